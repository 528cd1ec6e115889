#!/usr/bin/env python3
"""Reads SignalDB tables with pyiceberg, an Iceberg reader independent of ours, and prints JSON.

Used by the integration tests (tests-integration/src/pyiceberg.rs) to check that what our
binaries write is readable by other Iceberg clients. Also handy by hand:

    .venv-test/bin/python scripts/pyiceberg_read.py \
        --uri sqlite:////abs/path/catalog.db --warehouse file:///abs/path/warehouse \
        --table acme.prod.traces

Output, one JSON object on stdout:
    {"catalog_name": ..., "namespaces": [["acme"], ["acme", "prod"], ...],
     "tables": {"acme.prod.traces": {
         "exists": true, "total_rows": 600, "rows_per_hour": {"2026-01-15-10": 200, ...},
         "live_data_files": 12, "data_files": [paths...], "snapshot_count": 1,
         "schema_fields": ["timestamp", ...], "partition_fields": [{"name": "hour", ...}],
         "format_version": 2, "rows_sha256": "<hex over sorted rows>",
         "namespace_tables": ["traces", ...],
         "properties": {"key": "value", ...},
         "sort_order": {"order_id": 1, "fields": [{"source": "timestamp", "source_id": 1,
                        "transform": "identity", "direction": "asc",
                        "null_order": "nulls-first"}, ...]},
         "partition_spec": {"spec_id": 0, "fields": [{"name": ..., "field_id": 1000,
                            "transform": "hour", "source": "timestamp", "source_id": 1}]},
         "current_schema_id": 0, "schema_ids": [0, ...],
         "field_ids": {"timestamp": 1, ..., "attrs.key": 20, "attrs.value": 21}}}}
A table that does not exist reports {"exists": false}.

`rows_sha256` compares rows by column name, so rows of files written before a column was added
(read as null there) digest like rows rewritten with an explicit null; map columns digest
with their entries sorted by key, whatever order a file stored them in.
"""

import argparse
import datetime as dt
import hashlib
import json
import sys

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.types import ListType, MapType, StructType

MICROS_PER_HOUR = 3_600_000_000


def add_catalog_args(p: argparse.ArgumentParser) -> None:
    """The arguments naming the SQL catalog and warehouse, shared by the test scripts."""
    p.add_argument("--catalog-name", default="signaldb",
                   help="the catalog_name our catalog rows carry (schema.catalog_name)")
    p.add_argument("--uri", required=True,
                   help="SQLAlchemy URI: sqlite:////abs/catalog.db or postgresql+psycopg2://...")
    p.add_argument("--warehouse", required=True, help="warehouse URI (file:///... or s3://...)")
    p.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE",
                   help="extra catalog/FileIO property, e.g. s3.endpoint=http://127.0.0.1:PORT")


def open_catalog(args) -> SqlCatalog:
    """The catalog `add_catalog_args`' arguments name; exits with status 2 on a bad --prop."""
    props = {}
    for kv in args.prop:
        key, sep, value = kv.partition("=")
        if not sep:
            sys.exit(f"--prop needs KEY=VALUE, got {kv!r}")
        props[key] = value
    return SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse, **props)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_catalog_args(p)
    p.add_argument("--table", action="append", default=[], metavar="TENANT.DATASET.TABLE",
                   help="table to read (repeatable)")
    p.add_argument("--no-rows-hash", action="store_true",
                   help="skip hashing row contents (faster for big tables)")
    return p.parse_args()


def hour_label(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, tz=dt.timezone.utc).strftime("%Y-%m-%d-%H")


def rows_per_hour(arrow: pa.Table) -> dict:
    if arrow.num_rows == 0 or "timestamp" not in arrow.column_names:
        return {}
    col = arrow["timestamp"]
    unit = col.type.unit if pa.types.is_timestamp(col.type) else "us"
    ticks = pc.cast(col, pa.int64())
    divisor = {"s": 3600, "ms": 3_600_000, "us": MICROS_PER_HOUR, "ns": MICROS_PER_HOUR * 1000}[unit]
    hours = pc.floor(pc.divide(pc.cast(ticks, pa.float64()), float(divisor)))
    counts = pc.value_counts(pc.cast(hours, pa.int64()))
    return {hour_label(int(r["values"])): int(r["counts"]) for r in sorted(
        counts.to_pylist(), key=lambda r: r["values"])}


def has_map(typ: pa.DataType) -> bool:
    """Whether an Arrow type is, or holds somewhere inside it, a map."""
    if pa.types.is_map(typ):
        return True
    if pa.types.is_struct(typ):
        return any(has_map(typ.field(i).type) for i in range(typ.num_fields))
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return has_map(typ.value_type)
    return False


def canonical(value, typ: pa.DataType):
    """A Python value of Arrow type `typ` with every map's entries sorted by key.

    A map's entries are a set: the order a writer (or a rewrite of the file) put them in is not
    part of the row, so it must not change the digest. Entries stay [key, value] pairs, so a map
    that was already sorted digests as it did before maps were canonicalised."""
    if value is None:
        return None
    if pa.types.is_map(typ):
        entries = [(canonical(k, typ.key_type), canonical(v, typ.item_type)) for k, v in value]
        return sorted(entries, key=lambda kv: json.dumps(kv[0], sort_keys=True, default=str))
    if pa.types.is_struct(typ):
        return {typ.field(i).name: canonical(value[typ.field(i).name], typ.field(i).type)
                for i in range(typ.num_fields)}
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return [canonical(v, typ.value_type) for v in value]
    return value


def canonical_rows(arrow: pa.Table) -> list:
    """The rows as dicts (arrow.to_pylist()), map entries sorted by key (see `canonical`)."""
    map_columns = [i for i, f in enumerate(arrow.schema) if has_map(f.type)]
    if not map_columns:
        return arrow.to_pylist()
    columns = []
    for i, field in enumerate(arrow.schema):
        values = arrow.column(i).to_pylist()
        if i in map_columns:
            values = [canonical(v, field.type) for v in values]
        columns.append(values)
    names = arrow.column_names
    return [dict(zip(names, row)) for row in zip(*columns)]


def row_lines(arrow: pa.Table) -> list:
    """Each row as one line of canonical JSON: keys sorted, map entries sorted by key."""
    return [json.dumps(row, sort_keys=True, default=str) for row in canonical_rows(arrow)]


def digest(lines) -> str:
    """Order-independent digest of rows given as `row_lines`: sorted, one per line."""
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def rows_sha256(arrow: pa.Table) -> str:
    """Order-independent digest of the row contents: each row as canonical JSON, sorted.

    Rows are compared by column name (rows of files written before a column was added read as
    null there), and each map column's entries are sorted by key (see `canonical`)."""
    return digest(row_lines(arrow))


def sort_order(table, schema) -> dict:
    """The table's default sort order: its id and, per field, the source column's name and id,
    the transform, `asc`/`desc` and `nulls-first`/`nulls-last` (an unsorted table: no fields)."""
    order = table.sort_order()
    return {
        "order_id": order.order_id,
        "fields": [
            {"source": schema.find_column_name(f.source_id), "source_id": f.source_id,
             "transform": str(f.transform), "direction": f.direction.value,
             "null_order": f.null_order.value}
            for f in order.fields
        ],
    }


def field_ids(schema) -> dict:
    """Field id of every column of the current schema by dotted path, nested ones included
    (a map column `attrs` has `attrs.key` and `attrs.value`, a list `tags` has `tags.element`),
    in id order."""
    out = {}

    def walk(prefix, field_type):
        if isinstance(field_type, StructType):
            for f in field_type.fields:
                out[prefix + f.name] = f.field_id
                walk(prefix + f.name + ".", f.field_type)
        elif isinstance(field_type, MapType):
            out[prefix + "key"] = field_type.key_id
            out[prefix + "value"] = field_type.value_id
            walk(prefix + "key.", field_type.key_type)
            walk(prefix + "value.", field_type.value_type)
        elif isinstance(field_type, ListType):
            out[prefix + "element"] = field_type.element_id
            walk(prefix + "element.", field_type.element_type)

    walk("", schema.as_struct())
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


def read_table(catalog, ident: str, with_hash: bool) -> dict:
    namespace = ident.rsplit(".", 1)[0]
    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        return {"exists": False}
    schema = table.schema()
    arrow = table.scan().to_arrow()
    files = table.inspect.files()
    spec = table.spec()
    out = {
        "exists": True,
        "metadata_location": table.metadata_location,
        "location": table.location(),
        "format_version": table.format_version,
        "total_rows": arrow.num_rows,
        "rows_per_hour": rows_per_hour(arrow),
        "live_data_files": files.num_rows,
        "data_files": sorted(files["file_path"].to_pylist()),
        "snapshot_count": len(table.snapshots()),
        "schema_fields": [f.name for f in schema.fields],
        "partition_fields": [
            {"name": f.name, "transform": str(f.transform),
             "source": schema.find_column_name(f.source_id)}
            for f in spec.fields
        ],
        "namespace_tables": sorted(t[-1] for t in catalog.list_tables(namespace)),
        "properties": dict(sorted(table.properties.items())),
        "sort_order": sort_order(table, schema),
        "partition_spec": {
            "spec_id": spec.spec_id,
            "fields": [
                {"name": f.name, "field_id": f.field_id, "transform": str(f.transform),
                 "source": schema.find_column_name(f.source_id), "source_id": f.source_id}
                for f in spec.fields
            ],
        },
        "current_schema_id": schema.schema_id,
        "schema_ids": sorted(s.schema_id for s in table.schemas().values()),
        "field_ids": field_ids(schema),
    }
    if with_hash:
        out["rows_sha256"] = rows_sha256(arrow)
    return out


def all_namespaces(catalog, parent=(), depth=0) -> list:
    """Every namespace, nested ones included (list_namespaces() alone gives one level)."""
    found = []
    for ns in catalog.list_namespaces(parent):
        found.append(list(ns))
        if depth < 4:
            found.extend(all_namespaces(catalog, ns, depth + 1))
    return found


def main() -> int:
    args = parse_args()
    catalog = open_catalog(args)
    result = {
        "catalog_name": args.catalog_name,
        "namespaces": sorted(all_namespaces(catalog)),
        "tables": {t: read_table(catalog, t, not args.no_rows_hash) for t in args.table},
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
