"""The committed contract under schemas/ is fresh, and its examples validate against schemas and models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from federation.cli import main
from federation.schema.records import RECORD_KINDS

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"


def test_committed_schemas_are_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "check", "--dir", str(SCHEMAS)]) == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_or_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "export", "--dir", str(tmp_path)]) == 0
    assert main(["schema", "check", "--dir", str(tmp_path)]) == 0
    stale = tmp_path / "v1" / "activity.schema.json"
    stale.write_text(stale.read_text().replace('"title"', '"titre"'))
    (tmp_path / "openapi.json").unlink()
    capsys.readouterr()
    assert main(["schema", "check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "v1/activity.schema.json" in err and "openapi.json" in err


@pytest.mark.parametrize("kind", sorted(RECORD_KINDS))
def test_examples_validate_against_json_schema_and_model(kind: str) -> None:
    record_kind = RECORD_KINDS[kind]
    schema = json.loads((SCHEMAS / "v1" / f"{record_kind.schema_name}.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    example = json.loads((SCHEMAS / "examples" / "v1" / f"{record_kind.schema_name}.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(example)
    assert record_kind.record_model.model_validate(example).model_dump(mode="json") == example


@pytest.mark.parametrize("kind", sorted(RECORD_KINDS))
def test_data_schema_rejects_what_the_model_rejects(kind: str) -> None:
    record_kind = RECORD_KINDS[kind]
    schema = json.loads((SCHEMAS / "v1" / f"{record_kind.schema_name}-data.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors({"unexpected_field": 1}))


def test_openapi_document_is_valid_json_schema_dialect() -> None:
    document = json.loads((SCHEMAS / "openapi.json").read_text())
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
