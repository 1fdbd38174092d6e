"""Static checks of crds/*.yaml (no cluster): shape, cost-estimation hygiene, defaults, and agreement with
the shared Python identifiers. The behaviour itself is tested against a real API server in the other files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from videogen_common import names

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"

# The reference API's defaults (shared/seed/api-reference.md), in the CRD's camelCase.
REFERENCE_DEFAULTS = {
    "prompt": "",
    "negativePrompt": "",
    "numFrames": 64,
    "fps": 24,
    "width": 512,
    "height": 512,
    "seed": -1,
    "guidanceScale": 7.5,
    "numInferenceSteps": 50,
    "strength": 0.8,
}


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((CRD_DIR / name).read_text())
    return doc


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{key}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


CRDS = {"videojob.yaml": load("videojob.yaml"), "videomodel.yaml": load("videomodel.yaml")}


def test_crd_files_are_the_only_files_in_crds() -> None:
    assert sorted(p.name for p in CRD_DIR.iterdir()) == sorted(CRDS)


@pytest.mark.parametrize(
    ("file", "kind", "plural", "short"),
    [("videojob.yaml", "VideoJob", "videojobs", "vj"), ("videomodel.yaml", "VideoModel", "videomodels", "vmod")],
)
def test_names_group_and_version(file: str, kind: str, plural: str, short: str) -> None:
    crd = CRDS[file]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.videogen.dev"
    spec = crd["spec"]
    assert spec["group"] == "videogen.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind
    assert spec["names"]["plural"] == plural
    assert spec["names"]["singular"] == kind.lower()
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["videogen"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("file", sorted(CRDS))
def test_every_string_has_a_max_length_and_every_list_max_items(file: str) -> None:
    for path, node in walk(schema_of(CRDS[file])):
        if path in (".apiVersion", ".kind"):
            continue
        if node.get("type") == "string":
            assert "maxLength" in node, f"{file}: {path} has no maxLength"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{file}: {path} has no maxItems"


@pytest.mark.parametrize("file", sorted(CRDS))
def test_every_cel_rule_has_a_message(file: str) -> None:
    count = 0
    for path, node in walk(schema_of(CRDS[file])):
        for rule in node.get("x-kubernetes-validations", []):
            count += 1
            message = rule.get("message") or rule.get("messageExpression")
            assert message, f"{file}: rule {rule['rule']!r} at {path or '<root>'} has no message"
            if "oldSelf" in rule["rule"] or "fieldPath" in rule:
                assert "spec." in message or "metadata." in message, f"{file}: {message!r} names no field"
    assert count > 0


def test_videojob_defaults_match_the_reference_api() -> None:
    spec = schema_of(CRDS["videojob.yaml"])["properties"]["spec"]["properties"]
    for field, default in REFERENCE_DEFAULTS.items():
        assert spec[field]["default"] == default, field
    assert spec["cancel"]["default"] is False


def test_videojob_mode_enum_matches_the_shared_names() -> None:
    spec = schema_of(CRDS["videojob.yaml"])["properties"]["spec"]["properties"]
    assert tuple(spec["mode"]["enum"]) == names.MODES
    model = schema_of(CRDS["videomodel.yaml"])["properties"]["status"]["properties"]["modes"]
    assert tuple(model["items"]["enum"]) == names.MODES


@pytest.mark.parametrize(("file", "kind"), [("videojob.yaml", "VideoJob"), ("videomodel.yaml", "VideoModel")])
def test_every_spec_field_but_cancel_is_immutable(file: str, kind: str) -> None:
    spec = schema_of(CRDS[file])["properties"]["spec"]
    spec_rules = [r["rule"] for r in spec.get("x-kubernetes-validations", [])]
    for field, node in spec["properties"].items():
        rules = node.get("x-kubernetes-validations", [])
        if field == "cancel":
            assert [r["rule"] for r in rules] == ["!oldSelf || self"]
            continue
        immutable = [r for r in rules if r["rule"] == "self == oldSelf"]
        assert immutable, f"spec.{field} has no immutability rule"
        assert immutable[0]["message"] == f"spec.{field} is immutable; create a new {kind}"
        optional = field not in spec.get("required", []) and "default" not in node
        if optional:
            assert f"has(self.{field}) == has(oldSelf.{field})" in spec_rules, (
                f"spec.{field} is optional but can be added or removed"
            )


def test_videojob_printer_columns() -> None:
    (version,) = CRDS["videojob.yaml"]["spec"]["versions"]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert list(columns) == ["Mode", "Model", "Status", "Progress", "Age"]
    assert columns["Progress"]["jsonPath"] == ".status.progress.percent"
    assert columns["Progress"]["type"] == "integer"
