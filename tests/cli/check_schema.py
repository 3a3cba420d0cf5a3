"""Checks config/schema.json against failpipe's own view of configs.

Every example in CONFIG_DIR (and the valid fixtures) must validate; the bad fixture must not.
Usage: check_schema.py CONFIG_DIR FIXTURES_DIR
"""
import json
import pathlib
import sys

import jsonschema


def main() -> int:
    config_dir = pathlib.Path(sys.argv[1])
    fixtures = pathlib.Path(sys.argv[2])
    schema = json.loads((config_dir / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

    problems = []
    must_pass = [p for p in sorted(config_dir.glob("*.json")) if p.name != "schema.json"]
    must_pass += [fixtures / "drop.json", fixtures / "rethrow.json", fixtures / "breakers.json",
                  fixtures / "key-layout-groups.json", fixtures / "key-layout-plain.json", fixtures / "dead-suffix.json"]
    for path in must_pass:
        for error in validator.iter_errors(json.loads(path.read_text())):
            problems.append(f"{path}: /{'/'.join(map(str, error.absolute_path))}: {error.message}")
    # The limits of docs/config.md that a schema can say are in it too.
    for name in ["bad-config.json", "huge-numbers.json", "key-layout-bad.json", "empty-id.json", "dead-suffix-parked.json"]:
        if not list(validator.iter_errors(json.loads((fixtures / name).read_text()))):
            problems.append(f"{fixtures / name}: accepted by the schema")

    for problem in problems:
        print(problem)
    print(f"{len(must_pass)} documents checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
