#!/usr/bin/env python3
"""Imports Parquet files without Iceberg field ids into a table, as an operator migrating data
in would: pyiceberg's `add_files`, which records the files as they are and sets the table's
`schema.name-mapping.default` so that readers match their columns by name.

Usage: pyiceberg_import.py --catalog-name NAME --uri URI --warehouse W \
           --table TENANT.DATASET.TABLE --hour YYYY-MM-DD-HH --files N

The rows imported are a copy of the table's own rows of that hour (so they are valid rows of
its schema), split over N files written by pyarrow with no field ids, under
`{table location}/data/imported/`. Prints {"files": [paths], "rows": n}.
"""

import argparse
import json
import os
import sys
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import pyiceberg_read as base  # noqa: E402


def without_field_ids(schema: pa.Schema) -> pa.Schema:
    """`schema` with no field metadata anywhere (no `PARQUET:field_id`)."""

    def strip(field: pa.Field) -> pa.Field:
        typ = field.type
        if pa.types.is_struct(typ):
            typ = pa.struct([strip(f) for f in typ])
        elif pa.types.is_map(typ):
            typ = pa.map_(strip(typ.key_field), strip(typ.item_field))
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
            typ = pa.list_(strip(typ.value_field))
        return pa.field(field.name, typ, field.nullable)

    return pa.schema([strip(f) for f in schema])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base.add_catalog_args(p)
    p.add_argument("--table", action="append", required=True)
    p.add_argument("--hour", required=True, help="YYYY-MM-DD-HH (UTC)")
    p.add_argument("--files", type=int, required=True)
    args = p.parse_args()
    catalog = base.open_catalog(args)
    table = catalog.load_table(args.table[0])
    arrow = table.scan().to_arrow()
    mask = pa.array([base.hour_label(h) == args.hour for h in base_hours(arrow)])
    rows = arrow.filter(mask)
    if rows.num_rows == 0:
        sys.exit(f"pyiceberg_import.py: {args.table[0]} has no rows in {args.hour}")
    rows = rows.cast(without_field_ids(rows.schema))
    directory = f"{table.location()}/data/imported"
    local = directory.removeprefix("file://")
    os.makedirs(local, exist_ok=True)
    paths = []
    per_file = -(-rows.num_rows // args.files)
    for i in range(args.files):
        part = rows.slice(i * per_file, per_file)
        name = f"part-{uuid.uuid4()}.parquet"
        pq.write_table(part, os.path.join(local, name))
        paths.append(f"{directory}/{name}")
    table.add_files(paths)
    json.dump({"files": paths, "rows": rows.num_rows}, sys.stdout)
    sys.stdout.write("\n")
    return 0


def base_hours(arrow: pa.Table) -> list:
    """The UTC hour since the epoch of each row's `timestamp`."""
    import pyarrow.compute as pc

    ticks = pc.cast(arrow["timestamp"].cast(pa.timestamp("us")), pa.int64()).to_pylist()
    return [t // base.MICROS_PER_HOUR for t in ticks]


if __name__ == "__main__":
    sys.exit(main())
