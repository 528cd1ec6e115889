#!/usr/bin/env python3
"""A minimal Iceberg REST catalog on loopback, in front of a SQL catalog (pyiceberg's SqlCatalog).

The peer benchmark (scripts/bench-peers.sh) needs it for nimtable's iceberg-compaction, whose
Python binding speaks only REST catalogs: the binding loads the table through this server and
commits through it, and the commit lands in the same SQLite catalog every other contender uses
(pyiceberg writes the new metadata file and swaps the pointer with its compare-and-swap UPDATE).

    python scripts/rest_catalog.py --uri sqlite:////abs/catalog.db \
        --warehouse file:///abs/warehouse --port-file /tmp/port [--catalog-name signaldb]

Only what a compaction client needs is served; every other request is answered 404 and logged
on stderr (so a client needing more shows up in the log):
    GET  /v1/config                                 defaults and overrides (none)
    GET  /v1/namespaces/{ns}                        the namespace, no properties
    HEAD /v1/namespaces/{ns}/tables/{table}         204 when the table exists
    GET  /v1/namespaces/{ns}/tables/{table}         LoadTableResult: the metadata file as stored
    POST /v1/namespaces/{ns}/tables/{table}         CommitTableRequest -> CommitTableResponse
                                                    (409 when a requirement does not hold)
Namespace levels in the path are separated by the unit separator (%1F) as the REST spec says;
a dotted namespace is accepted too. The server binds 127.0.0.1 only, writes the port it got to
--port-file once it listens, and serves until it is killed. Requests are served one at a time.
"""

import argparse
import gzip
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from pydantic import TypeAdapter
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table.update import TableRequirement, TableUpdate

REQUIREMENTS = TypeAdapter(list[TableRequirement])
UPDATES = TypeAdapter(list[TableUpdate])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--uri", required=True, help="SQLAlchemy URI, e.g. sqlite:////abs/catalog.db")
    p.add_argument("--warehouse", required=True, help="warehouse URI, e.g. file:///abs/warehouse")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--port-file", required=True, help="where the port is written once listening")
    return p.parse_args()


def namespace_levels(segment: str) -> tuple:
    raw = unquote(segment)
    return tuple(raw.split("\x1f")) if "\x1f" in raw else tuple(raw.split("."))


def read_metadata(table) -> dict:
    data = table.io.new_input(table.metadata_location).open().read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    catalog: SqlCatalog = None
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # one line per request, on stderr
        sys.stderr.write("rest_catalog: " + (fmt % args) + "\n")

    def reply(self, status: int, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def error(self, status: int, kind: str, message: str):
        self.reply(status, {"error": {"message": message, "type": kind, "code": status}})

    def route(self):
        """(kind, namespace, table) of the request's path, or None."""
        parts = [p for p in urlparse(self.path).path.split("/") if p]
        if parts[:1] != ["v1"]:
            return None
        parts = parts[1:]
        if parts == ["config"]:
            return "config", None, None
        if len(parts) == 2 and parts[0] == "namespaces":
            return "namespace", namespace_levels(parts[1]), None
        if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "tables":
            return "table", namespace_levels(parts[1]), unquote(parts[3])
        return None

    def body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def handle_any(self):
        route = self.route()
        if route is None:
            self.log_message("unsupported: %s %s", self.command, self.path)
            self.error(404, "NotFoundException", f"not served: {self.command} {self.path}")
            return
        kind, ns, name = route
        try:
            with self.lock:
                self.serve(kind, ns, name)
        except (NoSuchTableError, NoSuchNamespaceError) as e:
            self.error(404, "NoSuchTableException", str(e))
        except CommitFailedException as e:
            self.error(409, "CommitFailedException", str(e))
        except Exception as e:  # noqa: BLE001 - reported to the client and logged
            self.log_message("error: %s %s: %r", self.command, self.path, e)
            self.error(500, type(e).__name__, str(e))

    def serve(self, kind, ns, name):
        if kind == "config" and self.command == "GET":
            self.reply(200, {"defaults": {}, "overrides": {}})
        elif kind == "namespace" and self.command in ("GET", "HEAD"):
            self.catalog.load_namespace_properties(ns)
            self.reply(200, {"namespace": list(ns), "properties": {}})
        elif kind == "table" and self.command == "HEAD":
            self.catalog.load_table(ns + (name,))
            self.reply(204)
        elif kind == "table" and self.command == "GET":
            table = self.catalog.load_table(ns + (name,))
            self.reply(200, {"metadata-location": table.metadata_location,
                             "metadata": read_metadata(table), "config": {}})
        elif kind == "table" and self.command == "POST":
            request = self.body()
            requirements = REQUIREMENTS.validate_python(request.get("requirements", []))
            updates = UPDATES.validate_python(request.get("updates", []))
            table = self.catalog.load_table(ns + (name,))
            response = self.catalog.commit_table(table, tuple(requirements), tuple(updates))
            committed = self.catalog.load_table(ns + (name,))
            if committed.metadata_location != response.metadata_location:
                raise CommitFailedException("the catalog moved on during the commit")
            self.reply(200, {"metadata-location": committed.metadata_location,
                             "metadata": read_metadata(committed)})
        else:
            self.log_message("unsupported: %s %s", self.command, self.path)
            self.error(405, "MethodNotAllowed", f"not served: {self.command} {self.path}")

    do_GET = do_HEAD = do_POST = do_DELETE = handle_any


def main():
    args = parse_args()
    Handler.catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
