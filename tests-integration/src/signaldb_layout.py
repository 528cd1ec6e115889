#!/usr/bin/env python3
"""Writes a warehouse laid out exactly as SignalDB's own writer lays it out, with pyiceberg.

For the compactor's integration tests (tests-integration/src/signaldb_layout.rs): SignalDB's
eight tables per `[tenant, dataset]` namespace with their columns, types, required flags and
field ids, the `timestamp_hour` = hour(timestamp) partition spec (partition field id 1000 + the
source column's id), sort order 1, SignalDB's table properties and `signaldb.wal.committed.*`
markers, and many small appends per hour. `traces` is created at schema `physical-v2` and
evolved in place to `physical-v3` half-way through every hour's appends, so each hour of traces
holds files of two schemas. The layout is /work/shared/reference/signaldb-tables.md.

    .venv-test/bin/python tests-integration/src/signaldb_layout.py \
        --uri sqlite:////abs/catalog.db --warehouse file:///abs/warehouse \
        --tenant acme --tenant globex --dataset prod \
        --end-hour 493000 --hours 4 --appends-per-hour 8 --rows-per-append 50 --seed 7
    # S3: add --prop s3.endpoint=http://127.0.0.1:PORT --prop s3.region=us-east-1 ... as for
    #     scripts/pyiceberg_read.py. PostgreSQL: --uri postgresql+psycopg2://user@host:port/db

Writing into hour()-partitioned tables needs the `pyiceberg-core` package (pyiceberg 0.12).

Output, one JSON object on stdout:
    {"catalog_name": ..., "warehouse": ..., "hours": ["YYYY-MM-DD-HH", ...], "seed": 7,
     "elapsed_seconds": 12.3, "notes": [...],
     "tables": {"acme.prod.traces": {
         "rows": 3200, "rows_per_hour": {"YYYY-MM-DD-HH": 800, ...}, "files": 64,
         "files_per_hour": {"YYYY-MM-DD-HH": 16, ...},
         "files_per_schema": {"0": 32, "1": 32},
         "snapshots": 64, "metadata_location": ..., "location": ...,
         "properties": {...after writing...},
         "schema_ids": [0, 1], "current_schema_id": 1,
         "schema_versions": {"physical-v2": 0, "physical-v3": 1},
         "field_ids": {"trace_id": 1, ..., "span_attributes.key": 26, ...},
         "last_column_id": 36,
         "partition_spec": {"spec_id": 0, "fields": [{"name": "timestamp_hour",
             "field_id": 1023, "source": "timestamp", "source_id": 23, "transform": "hour"}]},
         "sort_order": {"order_id": 1, "fields": [{"source": "timestamp", ...}]}}}}

Field ids are checked against SignalDB's rule after creation (top-level columns 1..N in column
order, then key and value of each map column in column order; columns added by evolution take
the next free ids) and the script fails when they differ.
"""

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
import warnings

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import ToOutputFile
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import NullOrder, SortDirection, SortField, SortOrder
from pyiceberg.transforms import DayTransform, HourTransform, IdentityTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    NestedField,
    StringType,
    TimestampType,
)

# The catalog arguments are those of every test script.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import pyiceberg_read as base  # noqa: E402

MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 24 * MICROS_PER_HOUR
PARTITION_FIELD_ID_BASE = 1000
PARTITION_FIELD_NAME = "timestamp_hour"
SCHEMA_VERSION_PROPERTY = "signaldb.schema.version"
WAL_MARKER_PREFIX = "signaldb.wal.committed."
WAL_WRITERS = 3

# ---------------------------------------------------------------------------------------------
# The layout: SignalDB's tables, in its column order. `map` is map<string, string> with an
# optional value; every map column itself is optional.
# ---------------------------------------------------------------------------------------------

TRACES_V2 = [
    ("trace_id", "string", True),
    ("span_id", "string", True),
    ("parent_span_id", "string", False),
    ("span_name", "string", True),
    ("service_name", "string", True),
    ("start_time_unix_nano", "long", True),
    ("end_time_unix_nano", "long", True),
    ("duration_nanos", "long", True),
    ("span_kind", "string", True),
    ("status_code", "string", True),
    ("status_message", "string", False),
    ("is_root", "boolean", True),
    ("span_attributes", "map", False),
    ("resource_attributes", "map", False),
    ("events", "string", False),
    ("links", "string", False),
    ("trace_state", "string", False),
    ("resource_schema_url", "string", False),
    ("scope_name", "string", False),
    ("scope_version", "string", False),
    ("scope_schema_url", "string", False),
    ("scope_attributes", "map", False),
    ("timestamp", "timestamp", True),
    ("date_day", "date", True),
    ("hour", "int", True),
]
# What physical-v3 adds to physical-v2 (optional columns, appended in this order).
TRACES_V3_ADDED = [
    ("span_kind_number", "int", False),
    ("status_code_number", "int", False),
    ("dropped_attributes_count", "long", False),
    ("dropped_events_count", "long", False),
    ("dropped_links_count", "long", False),
]
TRACES_V3 = TRACES_V2 + TRACES_V3_ADDED

LOGS = [
    ("timestamp", "timestamp", True),
    ("observed_timestamp", "timestamp", False),
    ("trace_id", "string", False),
    ("span_id", "string", False),
    ("trace_flags", "int", False),
    ("severity_text", "string", False),
    ("severity_number", "int", False),
    ("service_name", "string", True),
    ("body", "string", False),
    ("resource_schema_url", "string", False),
    ("resource_attributes", "map", False),
    ("scope_schema_url", "string", False),
    ("scope_name", "string", False),
    ("scope_version", "string", False),
    ("scope_attributes", "map", False),
    ("log_attributes", "map", False),
    ("date_day", "date", True),
    ("hour", "int", True),
]

METRIC_HEAD = [
    ("timestamp", "timestamp", True),
    ("start_timestamp", "timestamp", False),
    ("service_name", "string", True),
    ("metric_name", "string", True),
    ("metric_description", "string", False),
    ("metric_unit", "string", False),
]
METRIC_TAIL = [
    ("resource_schema_url", "string", False),
    ("resource_attributes", "map", False),
    ("scope_name", "string", False),
    ("scope_version", "string", False),
    ("scope_schema_url", "string", False),
    ("scope_attributes", "map", False),
    ("scope_dropped_attr_count", "int", False),
    ("attributes", "map", False),
    ("exemplars", "string", False),
    ("date_day", "date", True),
    ("hour", "int", True),
]

METRICS_GAUGE = METRIC_HEAD + [
    ("value", "double", True),
    ("flags", "int", False),
] + METRIC_TAIL

METRICS_SUM = METRIC_HEAD + [
    ("value", "double", True),
    ("flags", "int", False),
    ("aggregation_temporality", "int", True),
    ("is_monotonic", "boolean", True),
] + METRIC_TAIL

METRICS_HISTOGRAM = METRIC_HEAD + [
    ("count", "long", True),
    ("sum", "double", False),
    ("min", "double", False),
    ("max", "double", False),
    ("bucket_counts", "string", False),
    ("explicit_bounds", "string", False),
    ("flags", "int", False),
    ("aggregation_temporality", "int", True),
] + METRIC_TAIL

METRICS_EXPONENTIAL_HISTOGRAM = METRIC_HEAD + [
    ("count", "long", True),
    ("sum", "double", False),
    ("min", "double", False),
    ("max", "double", False),
    ("scale", "int", False),
    ("zero_count", "long", False),
    ("positive_offset", "int", False),
    ("positive_bucket_counts", "string", False),
    ("negative_offset", "int", False),
    ("negative_bucket_counts", "string", False),
    ("flags", "int", False),
    ("aggregation_temporality", "int", True),
    ("zero_threshold", "double", False),
] + METRIC_TAIL

METRICS_SUMMARY = METRIC_HEAD + [
    ("count", "long", True),
    ("sum", "double", True),
    ("quantile_values", "string", False),
    ("flags", "int", False),
] + METRIC_TAIL

PROFILES = [
    ("profile_id", "string", True),
    ("timestamp", "timestamp", True),
    ("duration_nano", "long", True),
    ("sample_type", "string", True),
    ("sample_unit", "string", True),
    ("period_type", "string", False),
    ("period_unit", "string", False),
    ("period", "long", False),
    ("service_name", "string", True),
    ("stacktraces_json", "string", True),
    ("samples_json", "string", True),
    ("resource_attributes", "map", False),
    ("scope_attributes", "map", False),
    ("profile_attributes", "map", False),
    ("trace_id", "string", False),
    ("span_id", "string", False),
    ("date_day", "date", True),
    ("hour", "int", True),
]

METRIC_SORT = ["timestamp", "metric_name", "service_name"]

# name -> (current columns, schema version, sort key)
TABLES = {
    "traces": (TRACES_V3, "physical-v3", ["timestamp", "trace_id"]),
    "logs": (LOGS, "physical-v1", ["timestamp", "service_name", "severity_text"]),
    "metrics_gauge": (METRICS_GAUGE, "physical-v1", METRIC_SORT),
    "metrics_sum": (METRICS_SUM, "physical-v1", METRIC_SORT),
    "metrics_histogram": (METRICS_HISTOGRAM, "physical-v1", METRIC_SORT),
    "metrics_exponential_histogram": (METRICS_EXPONENTIAL_HISTOGRAM, "physical-v1", METRIC_SORT),
    "metrics_summary": (METRICS_SUMMARY, "physical-v1", METRIC_SORT),
    "profiles": (PROFILES, "physical-v1", ["timestamp", "service_name"]),
}
# Tables whose `signaldb.schema.version` SignalDB records as a property.
VERSIONED_TABLES = ("traces", "logs")

PRIMITIVES = {
    "string": StringType,
    "long": LongType,
    "int": IntegerType,
    "double": DoubleType,
    "boolean": BooleanType,
    "timestamp": TimestampType,
    "date": DateType,
}


def expected_field_ids(columns) -> dict:
    """SignalDB's ids: top-level columns 1..N in order, then key and value of each map column."""
    ids = {name: i for i, (name, _, _) in enumerate(columns, start=1)}
    next_id = len(columns) + 1
    for name, kind, _ in columns:
        if kind == "map":
            ids[f"{name}.key"] = next_id
            ids[f"{name}.value"] = next_id + 1
            next_id += 2
    return ids


def iceberg_type(kind: str, name: str, ids: dict):
    if kind == "map":
        return MapType(ids[f"{name}.key"], StringType(), ids[f"{name}.value"], StringType(),
                       value_required=False)
    return PRIMITIVES[kind]()


def iceberg_schema(columns) -> Schema:
    ids = expected_field_ids(columns)
    return Schema(*[
        NestedField(ids[name], name, iceberg_type(kind, name, ids), required=required)
        for name, kind, required in columns
    ])


def field_ids_of(schema: Schema) -> dict:
    """Top-level name -> id, and `name.key` / `name.value` for map columns, in id order (the
    form of scripts/pyiceberg_read.py's `field_ids`)."""
    out = {}
    for field in schema.fields:
        out[field.name] = field.field_id
        if isinstance(field.field_type, MapType):
            out[f"{field.name}.key"] = field.field_type.key_id
            out[f"{field.name}.value"] = field.field_type.value_id
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------

SERVICES = ["checkout", "payments", "frontend", "inventory", "auth", "search"]
SPAN_NAMES = ["GET /api/cart", "POST /api/pay", "SELECT orders", "publish order.created",
              "grpc.Inventory/Reserve", "render"]
SPAN_KINDS = [("Server", 2), ("Client", 3), ("Internal", 1), ("Producer", 4), ("Consumer", 5)]
STATUSES = [("Ok", 1), ("Unset", 0), ("Error", 2)]
SEVERITIES = [("INFO", 9), ("WARN", 13), ("ERROR", 17), ("DEBUG", 5)]
METRIC_NAMES = ["http.server.duration", "process.cpu.time", "queue.depth", "db.client.connections",
                "runtime.gc.count"]
ATTRIBUTE_POOL = {
    "http.method": ["GET", "POST", "PUT"],
    "http.status_code": ["200", "201", "404", "500"],
    "net.peer.name": ["db-1", "cache-2", "api.example.internal"],
    "k8s.pod.name": ["pod-a1", "pod-b2", "pod-c3"],
    "deployment.environment": ["prod", "staging"],
    "user.tier": ["free", "pro", None],
    "region": ["eu-west-1", "us-east-1"],
}
SCOPES = [("io.opentelemetry.sdk", "1.30.0"), ("signaldb.loadgen", "0.4.2"), ("otel.go", "1.24")]


class Gen:
    """Deterministic value source for one append (seeded by everything that identifies it)."""

    def __init__(self, key: str):
        self.r = random.Random(key)

    def hex(self, nbytes: int) -> str:
        return self.r.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()

    def maybe(self, value, p_null=0.15):
        return None if self.r.random() < p_null else value

    def attrs(self, lo=1, hi=4, p_null_map=0.05, p_empty=0.05):
        """A map column's value: entries as (key, value) pairs, some values null; or null/empty."""
        x = self.r.random()
        if x < p_null_map:
            return None
        if x < p_null_map + p_empty:
            return []
        keys = self.r.sample(sorted(ATTRIBUTE_POOL), self.r.randint(lo, hi))
        entries = []
        for k in keys:
            v = self.r.choice(ATTRIBUTE_POOL[k])
            if v is not None and self.r.random() < 0.08:
                v = None
            entries.append((k, v))
        return entries

    def resource(self, service: str):
        entries = [("service.name", service), ("host.name", f"node-{self.r.randint(1, 4)}"),
                   ("telemetry.sdk.language", self.r.choice(["rust", "go", "java", None]))]
        return entries

    def scope(self):
        return self.r.choice(SCOPES)


def row_times(g: Gen, hour: int, append: int, appends: int, n: int) -> list:
    """n timestamps (microseconds) in the hour: mostly in this append's slice of the hour, about
    one in ten anywhere in it (late data), so files overlap a little as a WAL's would."""
    slice_us = MICROS_PER_HOUR // appends
    base = hour * MICROS_PER_HOUR
    out = []
    for _ in range(n):
        if g.r.random() < 0.1:
            out.append(base + g.r.randrange(MICROS_PER_HOUR))
        else:
            out.append(base + (append % appends) * slice_us + g.r.randrange(slice_us))
    return out


def common_time_columns(ts: int) -> dict:
    return {"timestamp": ts, "date_day": ts // MICROS_PER_DAY, "hour": (ts // MICROS_PER_HOUR) % 24}


def trace_row(g: Gen, ts: int, v3: bool, trace_ids: list) -> dict:
    service = g.r.choice(SERVICES)
    is_root = g.r.random() < 0.2
    duration = g.r.randint(20_000, 900_000_000)
    start_ns = ts * 1000 + g.r.randrange(1000)
    kind, kind_no = g.r.choice(SPAN_KINDS)
    status, status_no = g.r.choice(STATUSES)
    scope_name, scope_version = g.scope()
    events = [] if g.r.random() < 0.7 else [
        {"name": "exception", "time_unix_nano": start_ns + 10, "attributes": {"type": "Timeout"}}]
    row = {
        "trace_id": g.r.choice(trace_ids),
        "span_id": g.hex(8),
        "parent_span_id": None if is_root else g.hex(8),
        "span_name": g.r.choice(SPAN_NAMES),
        "service_name": service,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": start_ns + duration,
        "duration_nanos": duration,
        "span_kind": kind,
        "status_code": status,
        "status_message": "deadline exceeded" if status == "Error" else g.maybe("", 0.5),
        "is_root": is_root,
        "span_attributes": g.attrs(),
        "resource_attributes": g.resource(service),
        "events": json.dumps(events),
        "links": g.maybe("[]", 0.3),
        "trace_state": g.maybe("vendor=1", 0.8),
        "resource_schema_url": g.maybe("https://opentelemetry.io/schemas/1.21.0", 0.3),
        "scope_name": scope_name,
        "scope_version": scope_version,
        "scope_schema_url": g.maybe("https://opentelemetry.io/schemas/1.21.0", 0.6),
        "scope_attributes": g.attrs(0, 2, p_null_map=0.3),
        **common_time_columns(ts),
    }
    if v3:
        row.update({
            "span_kind_number": kind_no,
            "status_code_number": status_no,
            "dropped_attributes_count": g.r.choice([0, 0, 0, 1, 3]),
            "dropped_events_count": g.r.choice([0, 0, 0, 2]),
            "dropped_links_count": g.maybe(0, 0.2),
        })
    return row


def log_row(g: Gen, ts: int) -> dict:
    service = g.r.choice(SERVICES)
    severity, number = g.r.choice(SEVERITIES)
    in_span = g.r.random() < 0.6
    scope_name, scope_version = g.scope()
    return {
        "timestamp": ts,
        "observed_timestamp": g.maybe(ts + g.r.randrange(5_000_000), 0.1),
        "trace_id": g.hex(16) if in_span else None,
        "span_id": g.hex(8) if in_span else None,
        "trace_flags": 1 if in_span else g.maybe(0, 0.5),
        "severity_text": g.maybe(severity, 0.05),
        "severity_number": number,
        "service_name": service,
        "body": g.r.choice(["request served", "cache miss", "retrying connection",
                            "payment declined", "user logged in"]) + f" #{g.r.randrange(10_000)}",
        "resource_schema_url": g.maybe("https://opentelemetry.io/schemas/1.21.0", 0.4),
        "resource_attributes": g.resource(service),
        "scope_schema_url": g.maybe("", 0.7),
        "scope_name": scope_name,
        "scope_version": scope_version,
        "scope_attributes": g.attrs(0, 2, p_null_map=0.3),
        "log_attributes": g.attrs(),
        **common_time_columns(ts),
    }


def metric_common(g: Gen, ts: int) -> dict:
    service = g.r.choice(SERVICES)
    scope_name, scope_version = g.scope()
    return {
        "timestamp": ts,
        "start_timestamp": g.maybe(ts - g.r.randrange(1, 60_000_000), 0.2),
        "service_name": service,
        "metric_name": g.r.choice(METRIC_NAMES),
        "metric_description": g.maybe("measured by the SDK", 0.3),
        "metric_unit": g.r.choice(["ms", "1", "By", None]),
        "flags": g.maybe(0, 0.3),
        "resource_schema_url": g.maybe("https://opentelemetry.io/schemas/1.21.0", 0.4),
        "resource_attributes": g.resource(service),
        "scope_name": scope_name,
        "scope_version": scope_version,
        "scope_schema_url": g.maybe("", 0.7),
        "scope_attributes": g.attrs(0, 2, p_null_map=0.3),
        "scope_dropped_attr_count": g.maybe(0, 0.5),
        "attributes": g.attrs(),
        "exemplars": g.maybe("[]", 0.7),
        **common_time_columns(ts),
    }


def histogram_buckets(g: Gen):
    bounds = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0]
    counts = [g.r.randrange(20) for _ in range(len(bounds) + 1)]
    return bounds, counts


def gauge_row(g: Gen, ts: int) -> dict:
    return {**metric_common(g, ts), "value": round(g.r.uniform(0, 1000), 3)}


def sum_row(g: Gen, ts: int) -> dict:
    return {**metric_common(g, ts), "value": float(g.r.randrange(1_000_000)),
            "aggregation_temporality": g.r.choice([1, 2]), "is_monotonic": g.r.random() < 0.8}


def histogram_row(g: Gen, ts: int) -> dict:
    bounds, counts = histogram_buckets(g)
    total = sum(counts)
    return {**metric_common(g, ts), "count": total,
            "sum": g.maybe(round(total * g.r.uniform(1, 90), 3), 0.1),
            "min": g.maybe(round(g.r.uniform(0, 5), 3), 0.2),
            "max": g.maybe(round(g.r.uniform(100, 400), 3), 0.2),
            "bucket_counts": json.dumps(counts), "explicit_bounds": json.dumps(bounds),
            "aggregation_temporality": g.r.choice([1, 2])}


def exponential_histogram_row(g: Gen, ts: int) -> dict:
    positive = [g.r.randrange(10) for _ in range(g.r.randint(1, 6))]
    negative = [g.r.randrange(3) for _ in range(g.r.randint(0, 2))]
    zero = g.r.randrange(5)
    return {**metric_common(g, ts), "count": sum(positive) + sum(negative) + zero,
            "sum": g.maybe(round(g.r.uniform(0, 5000), 3), 0.1),
            "min": g.maybe(round(g.r.uniform(0, 1), 4), 0.2),
            "max": g.maybe(round(g.r.uniform(50, 500), 3), 0.2),
            "scale": g.r.randint(-2, 8), "zero_count": zero,
            "positive_offset": g.r.randint(-5, 5), "positive_bucket_counts": json.dumps(positive),
            "negative_offset": g.maybe(g.r.randint(-5, 5), 0.3),
            "negative_bucket_counts": json.dumps(negative),
            "aggregation_temporality": g.r.choice([1, 2]),
            "zero_threshold": g.maybe(0.0, 0.5)}


def summary_row(g: Gen, ts: int) -> dict:
    count = g.r.randrange(1, 500)
    quantiles = [{"quantile": q, "value": round(g.r.uniform(1, 300) * (1 + q), 3)}
                 for q in (0.5, 0.9, 0.99)]
    return {**metric_common(g, ts), "count": count, "sum": round(count * g.r.uniform(1, 50), 3),
            "quantile_values": g.maybe(json.dumps(quantiles), 0.05)}


def profile_row(g: Gen, ts: int) -> dict:
    service = g.r.choice(SERVICES)
    sample_type, unit = g.r.choice([("cpu", "nanoseconds"), ("alloc_space", "bytes"),
                                    ("samples", "count")])
    frames = [f"main.{g.r.choice(['handle', 'encode', 'query', 'alloc'])}"
              for _ in range(g.r.randint(1, 4))]
    in_span = g.r.random() < 0.3
    return {
        "profile_id": g.hex(16),
        "timestamp": ts,
        "duration_nano": g.r.choice([10_000_000_000, 15_000_000_000]),
        "sample_type": sample_type,
        "sample_unit": unit,
        "period_type": g.maybe("cpu", 0.3),
        "period_unit": g.maybe("nanoseconds", 0.3),
        "period": g.maybe(10_000_000, 0.3),
        "service_name": service,
        "stacktraces_json": json.dumps([{"id": 0, "frames": frames}]),
        "samples_json": json.dumps([{"stacktrace_id": 0, "value": g.r.randrange(1, 10_000)}]),
        "resource_attributes": g.resource(service),
        "scope_attributes": g.attrs(0, 2, p_null_map=0.4),
        "profile_attributes": g.attrs(0, 3, p_null_map=0.2),
        "trace_id": g.hex(16) if in_span else None,
        "span_id": g.hex(8) if in_span else None,
        **common_time_columns(ts),
    }


ROW_MAKERS = {
    "logs": log_row,
    "metrics_gauge": gauge_row,
    "metrics_sum": sum_row,
    "metrics_histogram": histogram_row,
    "metrics_exponential_histogram": exponential_histogram_row,
    "metrics_summary": summary_row,
    "profiles": profile_row,
}


def sort_rows(rows: list, sort_key: list) -> list:
    """Ascending, nulls first: the table's sort order, as a writer that honours it would."""
    return sorted(rows, key=lambda row: tuple(
        (0, "") if row[c] is None else (1, row[c]) for c in sort_key))


def arrow_batch(rows: list, schema: Schema) -> pa.Table:
    """The rows as an Arrow table on the Iceberg schema (field ids and nullability carried)."""
    arrow_schema = schema_to_pyarrow(schema)
    columns = {}
    for field in arrow_schema:
        values = [row.get(field.name) for row in rows]
        columns[field.name] = pa.array(values, type=field.type)
    return pa.Table.from_pydict(columns, schema=arrow_schema)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def hour_label(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, tz=dt.timezone.utc).strftime("%Y-%m-%d-%H")


def creation_properties(name: str, version: str) -> dict:
    props = {
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "100",
        "write.parquet.compression-codec": "zstd",
        "write.parquet.compression-level": "1",
    }
    columns = TABLES[name][0]
    if any(col == "trace_id" for col, _, _ in columns):
        props["write.parquet.bloom-filter-enabled.column.trace_id"] = "true"
    if name in VERSIONED_TABLES:
        props[SCHEMA_VERSION_PROPERTY] = version
    return props


def create_table(catalog, namespace: tuple, name: str, columns, version: str, location: str,
                 plain_create: bool):
    """Creates one table at `location` with SignalDB's schema, spec, sort order and properties.

    pyiceberg's create_table numbers partition fields from 1000; SignalDB's are 1000 + the source
    column's id. Unless `plain_create`, the initial metadata is therefore built with pyiceberg's
    own new_table_metadata, its partition field id set to SignalDB's, written as
    `metadata/00000-<uuid>.metadata.json` and registered with the catalog (register_table)."""
    schema = iceberg_schema(columns)
    ts_id = schema.find_field("timestamp").field_id
    spec = PartitionSpec(PartitionField(source_id=ts_id, field_id=PARTITION_FIELD_ID_BASE + ts_id,
                                        transform=HourTransform(), name=PARTITION_FIELD_NAME),
                         spec_id=0)
    sort_key = TABLES[name][2]
    sort_order = SortOrder(*[
        SortField(source_id=schema.find_field(col).field_id, transform=IdentityTransform(),
                  direction=SortDirection.ASC, null_order=NullOrder.NULLS_FIRST)
        for col in sort_key
    ], order_id=1)
    props = {**creation_properties(name, version), "format-version": "2"}
    ident = namespace + (name,)
    if plain_create:
        return catalog.create_table(ident, schema=schema, location=location, partition_spec=spec,
                                    sort_order=sort_order, properties=props)
    metadata = new_table_metadata(schema=schema, partition_spec=spec, sort_order=sort_order,
                                  location=location, properties=dict(props))
    fresh = metadata.partition_specs[0]
    fixed_spec = PartitionSpec(*[
        PartitionField(source_id=f.source_id, field_id=PARTITION_FIELD_ID_BASE + f.source_id,
                       transform=f.transform, name=f.name) for f in fresh.fields
    ], spec_id=fresh.spec_id)
    metadata = metadata.model_copy(update={
        "partition_specs": [fixed_spec],
        "last_partition_id": max(f.field_id for f in fixed_spec.fields),
    })
    metadata_location = load_location_provider(location, props).new_table_metadata_file_location()
    io = catalog._load_file_io(location=metadata_location)
    ToOutputFile.table_metadata(metadata, io.new_output(metadata_location))
    return catalog.register_table(ident, metadata_location)


def check_layout(table, columns, name: str, evolved_from=None) -> list:
    """Differences between the table's ids, spec and sort order and SignalDB's; [] when none."""
    problems = []
    if evolved_from is None:
        want = expected_field_ids(columns)
    else:
        # Created at `evolved_from`; the rest was added later and took the next free ids.
        want = expected_field_ids(evolved_from)
        next_id = max(want.values()) + 1
        for col, _, _ in columns[len(evolved_from):]:
            want[col] = next_id
            next_id += 1
    got = field_ids_of(table.schema())
    if got != want:
        diff = {k: (want.get(k), got.get(k)) for k in sorted(set(want) | set(got))
                if want.get(k) != got.get(k)}
        problems.append(f"{name}: field ids (want, got): {diff}")
    schema = table.schema()
    for col, kind, required in columns:
        field = schema.find_field(col)
        if field.required != required:
            problems.append(f"{name}.{col}: required={field.required}, want {required}")
        if kind == "map" and field.field_type.value_required:
            problems.append(f"{name}.{col}: map value is required, want optional")
    spec = table.spec()
    ts_id = schema.find_field("timestamp").field_id
    fields = [(f.name, f.field_id, f.source_id, str(f.transform)) for f in spec.fields]
    want_fields = [(PARTITION_FIELD_NAME, PARTITION_FIELD_ID_BASE + ts_id, ts_id, "hour")]
    if spec.spec_id != 0 or fields != want_fields:
        problems.append(f"{name}: partition spec {spec.spec_id} {fields}, want 0 {want_fields}")
    order = table.sort_order()
    order_cols = [schema.find_column_name(f.source_id) for f in order.fields]
    if order.order_id != 1 or order_cols != TABLES[name][2] or any(
            f.direction != SortDirection.ASC or f.null_order != NullOrder.NULLS_FIRST
            or str(f.transform) != "identity" for f in order.fields):
        problems.append(f"{name}: sort order {order}, want 1 {TABLES[name][2]} asc nulls-first")
    if table.format_version != 2:
        problems.append(f"{name}: format version {table.format_version}")
    return problems


def describe(table) -> dict:
    schema = table.schema()
    spec = table.spec()
    order = table.sort_order()
    return {
        "metadata_location": table.metadata_location,
        "location": table.location(),
        "properties": dict(sorted(table.properties.items())),
        "schema_ids": sorted(s.schema_id for s in table.schemas().values()),
        "current_schema_id": schema.schema_id,
        "field_ids": field_ids_of(schema),
        "last_column_id": table.metadata.last_column_id,
        "partition_spec": {"spec_id": spec.spec_id, "fields": [
            {"name": f.name, "field_id": f.field_id, "source": schema.find_column_name(f.source_id),
             "source_id": f.source_id, "transform": str(f.transform)} for f in spec.fields]},
        "sort_order": {"order_id": order.order_id, "fields": [
            {"source": schema.find_column_name(f.source_id), "source_id": f.source_id,
             "transform": str(f.transform), "direction": f.direction.value,
             "null_order": f.null_order.value} for f in order.fields]},
    }


def wal_marker(writer: int, hour: int, append: int, appends: int) -> tuple:
    """A `signaldb.wal.committed.writer-<n>` marker: the WAL offset the writer committed up to."""
    offset = (hour * appends + append) * 4096 + writer
    return f"{WAL_MARKER_PREFIX}writer-{writer}", f"{hour:08d}:{offset:016d}"


def write_table(catalog, namespace, name, location, hours, args, notes) -> dict:
    columns, version, sort_key = TABLES[name]
    evolve = name == "traces" and args.traces_created_at == "physical-v2"
    initial = TRACES_V2 if evolve else columns
    initial_version = "physical-v2" if evolve else version
    table = create_table(catalog, namespace, name, initial, initial_version, location,
                         args.plain_create)
    problems = check_layout(table, initial, name)
    appends = args.appends_per_hour
    half = appends // 2
    schema_versions = {initial_version: table.schema().schema_id}
    rows_per_hour, files_per_hour, files_per_schema = {}, {}, {}
    snapshots = 0
    ident = ".".join(namespace + (name,))

    def append(hour: int, i: int) -> None:
        nonlocal snapshots
        schema = table.schema()
        v3 = name != "traces" or "span_kind_number" in schema.column_names
        g = Gen(f"{args.seed}|{ident}|{hour}|{i}")
        times = row_times(g, hour, i, appends, args.rows_per_append)
        if name == "traces":
            # About four spans per trace.
            trace_ids = [g.hex(16) for _ in range(max(1, len(times) // 4))]
            rows = [trace_row(g, ts, v3, trace_ids) for ts in times]
        else:
            rows = [ROW_MAKERS[name](g, ts) for ts in times]
        batch = arrow_batch(sort_rows(rows, sort_key), schema)
        key, value = wal_marker((hour + i) % WAL_WRITERS, hour, i, appends)
        # Data and WAL marker in one commit, as SignalDB's writer does (exactly-once).
        with table.transaction() as tx:
            tx.append(batch)
            tx.set_properties({key: value})
        snapshots += 1
        label = hour_label(hour)
        rows_per_hour[label] = rows_per_hour.get(label, 0) + len(rows)
        files_per_hour[label] = files_per_hour.get(label, 0) + 1
        sid = str(schema.schema_id)
        files_per_schema[sid] = files_per_schema.get(sid, 0) + 1

    for hour in hours:
        for i in range(half if evolve else appends):
            append(hour, i)
    if evolve:
        with table.transaction() as tx:
            with tx.update_schema() as update:
                for col, kind, required in TRACES_V3_ADDED:
                    update.add_column(col, PRIMITIVES[kind](), required=required)
            tx.set_properties({SCHEMA_VERSION_PROPERTY: version})
        schema_versions[version] = table.schema().schema_id
        problems += check_layout(table, columns, name, evolved_from=TRACES_V2)
        for hour in hours:
            for i in range(half, appends):
                append(hour, i)
    spec_ids = [table.spec().spec_id]
    if args.evolve_spec_to_day:
        # Another engine moves the table to day partitions (as Spark's REPLACE PARTITION FIELD
        # does for cold data); SignalDB's writer goes on appending, now into days.
        with table.update_spec() as update:
            update.remove_field(PARTITION_FIELD_NAME)
            update.add_field("timestamp", DayTransform(), "timestamp_day")
        spec_ids.append(table.spec().spec_id)
        for hour in hours:
            for i in range(appends, appends + 2):
                append(hour, i)
    table.transaction().set_properties({"signaldb.hot.retention-hours": "24"}).commit_transaction()
    out = {
        "spec_ids": spec_ids,
        "rows": sum(rows_per_hour.values()),
        "rows_per_hour": rows_per_hour,
        "files": sum(files_per_hour.values()),
        "files_per_hour": files_per_hour,
        "files_per_schema": files_per_schema,
        "snapshots": snapshots,
        "schema_versions": schema_versions,
        "layout_problems": problems,
    }
    out.update(describe(table))
    return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base.add_catalog_args(p)
    p.add_argument("--tenant", action="append", default=[], help="tenant slug (repeatable)")
    p.add_argument("--dataset", action="append", default=[], help="dataset slug (repeatable)")
    p.add_argument("--end-hour", type=int, default=None,
                   help="last hour written, in hours since the epoch (default: the last closed "
                        "hour before now)")
    p.add_argument("--hours", type=int, default=4, help="how many hours, ending at --end-hour")
    p.add_argument("--appends-per-hour", type=int, default=8,
                   help="separate appends (commits, one data file each) per hour and table")
    p.add_argument("--rows-per-append", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--table", action="append", default=[], choices=sorted(TABLES),
                   help="write only these tables (repeatable; default: all eight)")
    p.add_argument("--traces-created-at", choices=["physical-v2", "physical-v3"],
                   default="physical-v2",
                   help="physical-v2 (default): create traces at v2 and evolve it to v3 after "
                        "the first half of every hour's appends; physical-v3: create it at v3")
    p.add_argument("--plain-create", action="store_true",
                   help="create tables with catalog.create_table (partition field id 1000) "
                        "instead of registering SignalDB's ids (1000 + source id)")
    p.add_argument("--evolve-spec-to-day", action="store_true",
                   help="after the appends, change the spec to day(timestamp) named timestamp_day "
                        "and append two more files per hour into it")
    p.add_argument("--allow-layout-mismatch", action="store_true",
                   help="report layout differences in the output instead of failing")
    args = p.parse_args()
    if not args.tenant or not args.dataset:
        p.error("give at least one --tenant and one --dataset")
    if args.hours < 1 or args.appends_per_hour < 1 or args.rows_per_append < 1:
        p.error("--hours, --appends-per-hour and --rows-per-append must be positive")
    if args.appends_per_hour < 2 and args.traces_created_at == "physical-v2":
        p.error("traces' evolution half-way needs --appends-per-hour of at least 2")
    if args.end_hour is None:
        args.end_hour = int(time.time()) // 3600 - 1
    return args


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    notes = []
    # pyiceberg 0.12 writes no Parquet bloom filters and says so on every write.
    warnings.filterwarnings("ignore", message=r"Parquet writer option\(s\) .*bloom-filter")
    notes.append("pyiceberg writes no Parquet bloom filters: "
                 "write.parquet.bloom-filter-enabled.column.trace_id is set but not honoured")
    catalog = base.open_catalog(args)
    warehouse = args.warehouse.rstrip("/")
    hours = list(range(args.end_hour - args.hours + 1, args.end_hour + 1))
    names = [n for n in TABLES if not args.table or n in args.table]
    tables = {}
    for tenant in args.tenant:
        for dataset in args.dataset:
            namespace = (tenant, dataset)
            catalog.create_namespace_if_not_exists(namespace)
            for name in names:
                location = f"{warehouse}/{tenant}/{dataset}/{name}"
                ident = f"{tenant}.{dataset}.{name}"
                tables[ident] = write_table(catalog, namespace, name, location, hours, args, notes)
    problems = [p for t in tables.values() for p in t["layout_problems"]]
    result = {
        "catalog_name": args.catalog_name,
        "warehouse": warehouse,
        "hours": [hour_label(h) for h in hours],
        "end_hour": args.end_hour,
        "seed": args.seed,
        "elapsed_seconds": round(time.monotonic() - started, 2),
        "notes": notes,
        "tables": tables,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    if problems and not args.allow_layout_mismatch:
        print("layout differs from SignalDB's:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
