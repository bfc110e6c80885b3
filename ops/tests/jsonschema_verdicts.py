#!/usr/bin/env python3
"""Verdicts of python-jsonschema (Draft 2020-12, format assertion on) for
Greffe's event examples, or for instances given on a JSON-lines file.

The reference side of SchemaAgreementTests: what a platform validating with
standard tools would conclude. Cross-file $refs resolve through a
`referencing` Registry holding every schema of the directory by its $id.

Usage:
  jsonschema_verdicts.py --schemas DIR --examples DIR
      one line per example file DIR/<kind>/{valid,invalid}-*.json, validated
      against <kind>.schema.json:
      {"example": "<kind>/<file>", "valid": true|false, "errors": [...]}
  jsonschema_verdicts.py --schemas DIR --instances FILE
      FILE holds JSON lines {"id": ..., "kind": ..., "instance": ...}; one
      line per input: {"id": ..., "valid": ..., "errors": [...]}

Exit status 2 (with a message on stderr) when a dependency is missing or a
schema is not a valid Draft 2020-12 schema.
"""
import argparse
import json
import os
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
    import referencing
    from referencing.jsonschema import DRAFT202012
    import rfc3339_validator  # noqa: F401  (without it "date-time" is silently not checked)
except ImportError as error:
    sys.stderr.write(
        "jsonschema_verdicts.py needs python-jsonschema (>= 4.18), referencing and rfc3339-validator: %s\n"
        "install them with: python3 -m pip install jsonschema referencing rfc3339-validator\n" % error)
    sys.exit(2)


def load_schemas(directory):
    """{file name: schema} for every *.schema.json, and a Registry by $id."""
    schemas = {}
    resources = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".schema.json"):
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            schema = json.load(f)
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as error:
            sys.stderr.write("%s is not a valid Draft 2020-12 schema: %s\n" % (name, error.message))
            sys.exit(2)
        if "$id" not in schema:
            sys.stderr.write("%s has no $id\n" % name)
            sys.exit(2)
        schemas[name] = schema
        resources.append((schema["$id"], DRAFT202012.create_resource(schema)))
    registry = referencing.Registry().with_resources(resources)
    return schemas, registry


def make_validators(schemas, registry):
    format_checker = Draft202012Validator.FORMAT_CHECKER
    if "date-time" not in format_checker.checkers:
        sys.stderr.write("python-jsonschema's FormatChecker does not check date-time (rfc3339-validator missing?)\n")
        sys.exit(2)
    validators = {}
    for name, schema in schemas.items():
        kind = name[: -len(".schema.json")]
        validators[kind] = Draft202012Validator(schema, registry=registry, format_checker=format_checker)
    return validators


def pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def verdict(validator, instance):
    errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    return {
        "valid": not errors,
        "errors": [{"path": pointer(e.absolute_path), "keyword": e.validator, "message": e.message} for e in errors],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", required=True)
    parser.add_argument("--examples")
    parser.add_argument("--instances")
    args = parser.parse_args()
    schemas, registry = load_schemas(args.schemas)
    validators = make_validators(schemas, registry)
    out = sys.stdout
    if args.examples:
        for kind in sorted(os.listdir(args.examples)):
            directory = os.path.join(args.examples, kind)
            if not os.path.isdir(directory):
                continue
            if kind not in validators:
                sys.stderr.write("examples for %s, which has no schema\n" % kind)
                sys.exit(2)
            for name in sorted(os.listdir(directory)):
                if not (name.startswith("valid-") or name.startswith("invalid-")) or not name.endswith(".json"):
                    continue
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    instance = json.load(f)
                line = {"example": kind + "/" + name}
                line.update(verdict(validators[kind], instance))
                out.write(json.dumps(line, ensure_ascii=True) + "\n")
    if args.instances:
        with open(args.instances, encoding="utf-8") as f:
            for number, text in enumerate(f, 1):
                if not text.strip():
                    continue
                item = json.loads(text)
                validator = validators.get(item["kind"])
                if validator is None:
                    sys.stderr.write("line %d: no schema for kind %r\n" % (number, item["kind"]))
                    sys.exit(2)
                line = {"id": item["id"]}
                line.update(verdict(validator, item["instance"]))
                out.write(json.dumps(line, ensure_ascii=True) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
