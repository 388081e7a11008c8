"""Prints the element id Swagger UI gives each operation of an OpenAPI document on stdin
(`operations-<first tag>-<operationId>`), one per line, sorted."""

import json
import sys

document = json.load(sys.stdin)
ids = sorted(
    f"operations-{operation['tags'][0]}-{operation['operationId']}"
    for item in document["paths"].values()
    for operation in item.values()
)
print("\n".join(ids))
