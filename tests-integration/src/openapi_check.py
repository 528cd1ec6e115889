"""Checks the admin API's OpenAPI document, and answers the API gave, against the OpenAPI schemas.

Usage: openapi_check.py DOC.json SAMPLES.json

DOC.json is the document `GET /api/v1/openapi.json` served; openapi-spec-validator validates it
against the schema of its OpenAPI version, offline. SAMPLES.json is a list of answers of the API,
each `{"method", "path", "status", "body"}` with `path` the document's template
(`/api/v1/runs/{id}`); every body is validated against the schema the document gives for that
path, method, status and `application/json` (openapi-schema-validator's OAS 3.1 dialect, the
document's own `$ref`s resolved within it).

Prints one JSON object, `{"openapi": version, "checked": n, "problems": [...]}`, and exits 0:
the caller decides what a problem means.
"""

import json
import sys

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:signaldb:admin-openapi"


def pointer(*parts):
    """A JSON pointer to `parts`, each escaped (`~` and `/`)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    with open(sys.argv[2]) as f:
        samples = json.load(f)
    problems = []
    try:
        validate(doc)
    except Exception as e:  # any finding of the validator, reported rather than raised
        problems.append(f"the document is not valid OpenAPI: {e}")
    registry = Registry().with_resource(
        BASE, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    for sample in samples:
        method, path, status = sample["method"], sample["path"], str(sample["status"])
        operation = doc.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            problems.append(f"{method} {path} is not in the document")
            continue
        response = operation.get("responses", {}).get(status)
        if response is None:
            problems.append(f"{method} {path} answered {status}, which the document does not list")
            continue
        content = response.get("content", {}).get("application/json", {})
        if "schema" not in content:
            problems.append(f"{method} {path} {status} has no application/json schema")
            continue
        at = pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
        validator = OAS31Validator({"$ref": f"{BASE}#{at}"}, registry=registry)
        errors = sorted(validator.iter_errors(sample["body"]), key=lambda e: list(e.absolute_path))
        for e in errors[:5]:
            where = "/".join(str(p) for p in e.absolute_path) or "(the body)"
            problems.append(f"{method} {path} {status}: {where}: {e.message[:300]}")
    print(json.dumps({"openapi": doc.get("openapi"), "checked": len(samples), "problems": problems}))


if __name__ == "__main__":
    main()
