"""The committed CRDs are exactly what the generator writes from the resource types (`make crds`)."""

from pathlib import Path
from typing import Any

import yaml

from videogen_common.resources.crd import CRD_FOLDERS, rendered_files
from videogen_common.resources.objects import KINDS
from videogen_dev import crd_files
from videogen_dev.settings import REPO_ROOT


def test_committed_crds_match_the_generator() -> None:
    assert crd_files.stale() == [], "the committed CRDs differ from the resource types; run `make crds`"


def test_generator_writes_every_kind_into_crds_and_the_chart(tmp_path: Path) -> None:
    assert sorted(crd_files.write(tmp_path)) == sorted(f"{f}/{k.singular}.yaml" for f in CRD_FOLDERS for k in KINDS)
    # A second run on a current tree changes nothing, byte for byte.
    before = {p: (tmp_path / p).read_bytes() for p in rendered_files()}
    assert crd_files.write(tmp_path) == []
    assert {p: (tmp_path / p).read_bytes() for p in rendered_files()} == before


def test_a_hand_edit_is_found_stale(tmp_path: Path) -> None:
    crd_files.write(tmp_path)
    edited = tmp_path / "helm/videogen/crds/videojob.yaml"
    edited.write_text(edited.read_text().replace("maximum: 128", "maximum: 1024"))
    assert crd_files.stale(tmp_path) == ["helm/videogen/crds/videojob.yaml"]


def test_generated_crds_are_structural_with_descriptions() -> None:
    for kind in KINDS:
        doc = yaml.safe_load((REPO_ROOT / "crds" / f"{kind.singular}.yaml").read_text())
        schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        _assert_structural(schema, kind.name)
        assert schema["properties"]["spec"]["description"]


def _assert_structural(node: dict[str, Any], path: str) -> None:
    # Structural: every node has a type (or preserves unknown fields / is int-or-string).
    assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
    for name, child in node.get("properties", {}).items():
        _assert_structural(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        _assert_structural(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        _assert_structural(node["additionalProperties"], f"{path}{{}}")
