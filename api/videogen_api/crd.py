"""The VideoJob and VideoModel CRDs as the API's source of field ranges, defaults and patterns.

crds/ is the single source of truth; the request schemas are built from it when this module loads, so a range
changed in the CRD changes the API's validation and its OpenAPI document with it. The folder is the setting
``crd_dir`` (``VIDEOGEN_API_CRD_DIR``; the image copies crds/ there), by default the checkout's crds/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

GROUP: Final = "videogen.dev"
VERSION: Final = "v1alpha1"
VIDEOJOBS: Final = "videojobs"
VIDEOMODELS: Final = "videomodels"


def crd_dir() -> Path:
    # Read when the request schemas are built (at import), before any app and its settings object exist.
    from videogen_api.config import ApiSettings

    return ApiSettings().crd_dir


@cache
def _spec_properties(filename: str) -> dict[str, Any]:
    document = yaml.safe_load((crd_dir() / filename).read_text())
    (version,) = [v for v in document["spec"]["versions"] if v["name"] == VERSION]
    properties: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return properties


@dataclass(frozen=True)
class FieldRule:
    """What the CRD says about one spec field."""

    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str = ""


def _rule(schema: dict[str, Any]) -> FieldRule:
    return FieldRule(
        default=schema.get("default"),
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        max_length=schema.get("maxLength"),
        pattern=schema.get("pattern"),
        description=" ".join(str(schema.get("description", "")).split()),
    )


def videojob_field(name: str) -> FieldRule:
    """The CRD's rule for ``VideoJob.spec.<name>`` (camelCase, as in the CRD)."""
    return _rule(_spec_properties("videojob.yaml")[name])


def videojob_spec_defaults() -> dict[str, Any]:
    """Every ``VideoJob.spec`` field the CRD defaults, with its default: what the apiserver fills in."""
    properties = _spec_properties("videojob.yaml")
    return {name: schema["default"] for name, schema in properties.items() if "default" in schema}


def videomodel_field(name: str) -> FieldRule:
    """The CRD's rule for ``VideoModel.spec.<name>``."""
    return _rule(_spec_properties("videomodel.yaml")[name])


# The CEL rules beside the patterns (no '--', no '..', no trailing '.git') are restated here as code because CEL
# is not a regex; tests/api checks that the API refuses exactly what the apiserver refuses for these.
_REPO_ID_FORBIDDEN: Final = ("--", "..")


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` is not a Hugging Face repo id the VideoModel CRD accepts, or None when it is."""
    rule = videomodel_field("repoId")
    if rule.max_length is not None and len(repo_id) > rule.max_length:
        return f"model_id must be at most {rule.max_length} characters"
    if rule.pattern is None or re.fullmatch(rule.pattern.removeprefix("^").removesuffix("$"), repo_id) is None:
        return (
            "model_id must be a Hugging Face repo id of the form namespace/name (letters, digits, '.', '_', '-'), "
            "not a URL or a path"
        )
    if any(bad in repo_id for bad in _REPO_ID_FORBIDDEN) or repo_id.endswith(".git"):
        return "model_id must not contain '--' or '..' nor end with '.git'; use the id shown on the model's hub page"
    return None


def model_reference_problem(model: str) -> str | None:
    """Why ``model`` cannot go in ``VideoJob.spec.model`` (a VideoModel name or a repo id), or None."""
    if "/" in model:
        problem = repo_id_problem(model)
        return None if problem is None else problem.replace("model_id", "model")
    rule = videojob_field("model")
    if rule.max_length is not None and len(model) > rule.max_length:
        return f"model must be at most {rule.max_length} characters"
    if rule.pattern is None or re.fullmatch(rule.pattern.removeprefix("^").removesuffix("$"), model) is None:
        return "model must be a VideoModel name (lowercase letters, digits, '-', '.') or a Hugging Face repo id"
    return None
