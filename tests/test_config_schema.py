"""The config's published forms: the JSON Schemas and the reference page are what the models generate today, the
schema accepts cdk.json and refuses what the config refuses key by key, the page lists every key with its
default, and every key the docs name is one the config has."""

from __future__ import annotations

import copy
import json
import re
import typing

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from referencing import Registry, Resource

from blueprint.config import ConfigError, PlatformConfig, load_config, section_at, stage_sections
from blueprint.config_schema import CDK_JSON_SCHEMA, PLATFORM_SCHEMA, REFERENCE_PAGE, generated
from blueprint.packages import ROOT


def cdk_json() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())


def validator() -> Draft202012Validator:
    """A validator of cdk.json on the committed schemas, the platform's found by its relative `$ref`."""
    schemas = {path.name: json.loads(path.read_text()) for path in (PLATFORM_SCHEMA, CDK_JSON_SCHEMA)}
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    registry = Registry().with_resources((name, Resource.from_contents(body)) for name, body in schemas.items())
    return Draft202012Validator(schemas[CDK_JSON_SCHEMA.name], registry=registry)


@pytest.mark.parametrize("path", [PLATFORM_SCHEMA, CDK_JSON_SCHEMA, REFERENCE_PAGE], ids=lambda path: path.name)
def test_the_committed_file_is_what_the_models_generate(path):
    assert path.read_text() == generated()[path], f"{path.relative_to(ROOT)} is stale: run `make schema`"


def test_cdk_json_fits_the_schema():
    assert [error.message for error in validator().iter_errors(cdk_json())] == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("stages.prod.serving.max_instance", 4),  # unknown key
        ("stages.prod.min_instances", 2),  # the flat shape of before
        ("stages.prod.name", "production"),
        ("stages.prod.serving.max_instances", "four"),
        ("stages.prod.serving.max_instances", True),
        ("stages.prod.serving.capture_percentage", 101),
        ("stages.prod.rollout.mode", "blue-green"),
        ("stages.prod.account", "1234"),
        ("stages.prod.notify", ["ops"]),
        ("stages.prod.monitoring.drift_threshold", 0),
        ("stages.prod.etl.workers", 1),
        ("stages.QA", {}),
        ("prefix", "My_Platform"),
        ("cicd.branchs", "main"),
        ("cicd.smoke_test_latency_ms", 0),
    ],
)
def test_the_schema_refuses_what_the_config_refuses(path, value):
    document = copy.deepcopy(cdk_json())
    *parents, last = path.split(".")
    node = document["context"]["platform"]
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    with pytest.raises(ConfigError):
        load_config(document["context"])
    assert list(validator().iter_errors(document)), f"the schema accepts {path}={value!r}"


def sections(model: type[BaseModel], prefix: str) -> dict[str, typing.Any]:
    """Every key under `model` (its sections opened, a stage as `stages.<name>`) -> its default."""
    keys = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue  # a stage's name: its key in `stages`
        key = f"{prefix}{name}"
        inner = field.annotation
        if typing.get_origin(inner) is dict:
            keys[key] = "required"
            keys |= sections(typing.get_args(inner)[1], f"{key}.<name>.")
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= sections(inner, f"{key}.")
        else:
            keys[key] = "required" if field.is_required() else field.default
    return keys


def test_the_reference_page_lists_every_key_with_its_default():
    rows = {}
    for line in REFERENCE_PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[2]
    keys = sections(PlatformConfig, "")
    assert set(keys) <= set(rows), sorted(set(keys) - set(rows))
    for key, default in keys.items():
        written = default if default == "required" else "null" if default is None else f"`{json.dumps(default)}`"
        assert rows[key] == written, key


SECTIONS = "|".join(stage_sections())


def named_keys(text: str) -> list[list[str]]:
    """The config keys a page names: `platform.<path>` overrides and a stage's `<section>.<key>` in backticks."""
    overrides = [m[1].split(".") for m in re.finditer(r"platform\.((?:stages\.[\w<>-]+|cicd)(?:\.\w+)+)", text)]
    in_sections = [["stages", "<name>", *m[1].split(".")] for m in re.finditer(rf"`((?:{SECTIONS})\.\w+)", text)]
    return overrides + in_sections


def test_the_docs_name_only_keys_the_config_has():
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    unknown = []
    for page in pages:
        for path in named_keys(page.read_text()):
            section = section_at(path)
            if section is None or path[-1] not in section.model_fields:
                unknown.append(f"{page.relative_to(ROOT)}: {'.'.join(path)}")
    assert named_keys("`serving.min_instance` and -c platform.stages.prod.monitor=true")  # what it finds
    assert unknown == []
