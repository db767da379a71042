#!/usr/bin/env python3
"""Validates report.json files against templates/report.schema.json: validate-schema.py SCHEMA FILE..."""
import json
import sys

import jsonschema

schema=json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v=jsonschema.Draft202012Validator(schema)
bad=0
for f in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(f))):
        print(f, list(e.absolute_path), e.message[:200]); bad=1
sys.exit(bad)
