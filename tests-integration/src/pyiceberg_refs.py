#!/usr/bin/env python3
"""Creates tags and branches on SignalDB tables with pyiceberg, as another Iceberg client would.

Takes the connection arguments of scripts/pyiceberg_read.py plus, for one --table,
--tag NAME=SNAPSHOT_ID and --branch NAME=SNAPSHOT_ID (repeatable). Commits all of them in one
pyiceberg transaction and prints {"refs": {name: snapshot_id}} as the table then has them.
Used by the retention tests (tests-integration/src/retention.rs).
"""

import argparse
import json
import sys

from pyiceberg.catalog.sql import SqlCatalog


def pairs(values):
    out = []
    for v in values:
        name, snapshot_id = v.split("=", 1)
        out.append((name, int(snapshot_id)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--table", required=True, metavar="TENANT.DATASET.TABLE")
    p.add_argument("--tag", action="append", default=[], metavar="NAME=SNAPSHOT_ID")
    p.add_argument("--branch", action="append", default=[], metavar="NAME=SNAPSHOT_ID")
    args = p.parse_args()
    props = dict(kv.split("=", 1) for kv in args.prop)
    catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse, **props)
    table = catalog.load_table(args.table)
    manage = table.manage_snapshots()
    for name, snapshot_id in pairs(args.tag):
        manage = manage.create_tag(snapshot_id, name)
    for name, snapshot_id in pairs(args.branch):
        manage = manage.create_branch(snapshot_id, name)
    manage.commit()
    table = catalog.load_table(args.table)
    refs = {name: ref.snapshot_id for name, ref in table.metadata.refs.items()}
    print(json.dumps({"refs": refs, "metadata_location": table.metadata_location}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
