"""Model references and repo ids checked with the resource types' own rules, in the REST fields' words.

``spec.model`` (a VideoModel name or a Hugging Face repo id) and ``VideoModel.spec.repoId`` declare their
patterns and the Python restatements of their CEL rules in videogen_common.resources; checking a value against
those types refuses exactly what the apiserver would refuse (tests/api/test_cel_parity.py holds the two to it).
The types' messages name the CRD field; a REST client sent ``model`` or ``model_id``, so that is the name it reads.
"""

from __future__ import annotations

from typing import Final

from pydantic import TypeAdapter, ValidationError

from videogen_common.resources.videojob import ModelReference
from videogen_common.resources.videomodel import RepoId

_MODEL_REFERENCE: Final = TypeAdapter(ModelReference)
_REPO_ID: Final = TypeAdapter(RepoId)


def model_reference_problem(model: str) -> str | None:
    """Why ``model`` cannot go in ``VideoJob.spec.model``, or None."""
    return _problem(_MODEL_REFERENCE, model, "spec.model", "model")


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` cannot go in ``VideoModel.spec.repoId``, or None."""
    return _problem(_REPO_ID, repo_id, "spec.repoId", "model_id")


def _problem(adapter: TypeAdapter[str], value: str, wire_name: str, rest_name: str) -> str | None:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        messages = [str(error["msg"]) for error in exc.errors()]
        # The types' own messages name the field; pydantic's (lengths) do not.
        return "; ".join(
            message.replace(wire_name, rest_name) if wire_name in message else f"{rest_name}: {message}"
            for message in messages
        )
    return None
