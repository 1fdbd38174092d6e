"""The CRDs, generated from the resource types (``make crds`` writes crds/ and the chart's copy from ``render``).

A walk over the pydantic models, not pydantic's JSON schema: a CRD schema must be structural (a type on every node,
no ``anyOf``/``$ref``), and most of what it says (formats, CEL rules, list types) is our own metadata anyway.
Optional fields are simply not required; pydantic's constraints become OpenAPI's (``ge`` -> ``minimum``,
``max_length`` -> ``maxLength``/``maxItems``/``maxProperties`` by type); every other marker is
``videogen_common.resources.schema``'s. Anything the walk does not understand is an error, never silently dropped.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, Final, Literal, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from videogen_common.resources.meta import CATEGORY, GROUP, VERSION
from videogen_common.resources.objects import KINDS, Kind
from videogen_common.resources.schema import Format, ListMap, ListSet, Pattern, Rule, WireModel

__all__ = ["crd", "render", "rendered_files"]

#: Where the generated files go, relative to the repository root: crds/ and the chart's copy.
CRD_FOLDERS: Final = ("crds", "helm/videogen/crds")

_HEADER: Final = """\
# {kind} CustomResourceDefinition, generated from common/videogen_common/resources/ by `make crds`
# (`videogen-dev crds --write`). Do not edit: change the types and regenerate; `make test` fails when this file
# differs from what the generator writes.
"""


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under ``Annotated[...]`` and ``X | None``, with the metadata collected on the way."""
    metadata: list[Any] = []
    while True:
        if get_origin(annotation) is typing.Annotated:
            metadata += list(annotation.__metadata__)
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (typing.Union, types.UnionType):
            arms = [arm for arm in get_args(annotation) if arm is not type(None)]
            if len(arms) != 1:
                raise TypeError(f"a CRD field has one type, not a union of {arms}")
            annotation = arms[0]
        else:
            return annotation, metadata


def _flatten(metadata: list[Any]) -> list[Any]:
    """Field(...) inside Annotated carries its constraints as metadata of its own."""
    flat: list[Any] = []
    for item in metadata:
        flat += _flatten(list(item.metadata)) if isinstance(item, FieldInfo) else [item]
    return flat


def _type_schema(tp: Any, metadata: list[Any], path: str) -> dict[str, Any]:
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        values = [str(member.value) for member in tp]
        return {"type": "string", "enum": values, "maxLength": max(len(v) for v in values)}
    if get_origin(tp) is Literal:
        values = [str(v) for v in get_args(tp)]
        return {"type": "string", "enum": values, "maxLength": max(len(v) for v in values)}
    if isinstance(tp, type) and issubclass(tp, WireModel):
        return object_schema(tp, path)
    if get_origin(tp) is list:
        item_type, item_metadata = _unwrap(get_args(tp)[0])
        return {"type": "array", "items": _schema(item_type, item_metadata, f"{path}[]")}
    if get_origin(tp) is dict:
        value_type, value_metadata = _unwrap(get_args(tp)[1])
        return {"type": "object", "additionalProperties": _schema(value_type, value_metadata, f"{path}.*")}
    raise TypeError(f"{path}: no CRD schema for the type {tp!r}")


_LENGTH_KEYS: Final = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
# The order keys are written in, so the generated YAML reads from what a field is to what is inside it.
_KEY_ORDER: Final = (
    "type",
    "format",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "pattern",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "required",
    "x-kubernetes-validations",
    "properties",
    "items",
    "additionalProperties",
)


def _schema(tp: Any, metadata: list[Any], path: str) -> dict[str, Any]:
    """The schema of one value: its type's, with the field's constraints and markers applied."""
    schema = _type_schema(tp, metadata, path)
    rules: list[dict[str, Any]] = list(schema.pop("x-kubernetes-validations", []))
    for item in _flatten(metadata):
        if isinstance(item, annotated_types.Ge):
            schema["minimum"] = item.ge
        elif isinstance(item, annotated_types.Le):
            schema["maximum"] = item.le
        elif isinstance(item, annotated_types.MinLen | annotated_types.MaxLen):
            low, high = _LENGTH_KEYS[schema["type"]]
            if isinstance(item, annotated_types.MinLen):
                schema[low] = item.min_length
            else:
                schema[high] = item.max_length
        elif isinstance(item, Format):
            schema["format"] = item.name
        elif isinstance(item, Pattern):
            schema["pattern"] = item.regex
        elif isinstance(item, Rule):
            rules.append(item.to_crd())
        elif isinstance(item, ListMap):
            schema["x-kubernetes-list-type"] = "map"
            schema["x-kubernetes-list-map-keys"] = list(item.keys)
        elif isinstance(item, ListSet):
            schema["x-kubernetes-list-type"] = "set"
        else:
            raise TypeError(f"{path}: the CRD generator does not understand the field marker {item!r}")
    if schema["type"] == "integer" and "format" not in schema:
        raise TypeError(f"{path}: an integer field must declare Format('int32') or Format('int64')")
    if schema["type"] == "number":
        schema.setdefault("format", "double")
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    unknown = set(schema) - set(_KEY_ORDER)
    if unknown:
        raise ValueError(f"schema keys without a place in the order: {unknown}")
    return {key: schema[key] for key in _KEY_ORDER if key in schema}


def _field_schema(model: type[BaseModel], name: str, info: FieldInfo, path: str) -> dict[str, Any]:
    tp, nested = _unwrap(info.annotation)
    schema = _schema(tp, [*info.metadata, *nested], path)
    description = _one_line(info.description)
    if description is None and isinstance(tp, type) and issubclass(tp, BaseModel):
        description = _one_line(tp.__doc__)
    if isinstance(tp, type) and issubclass(tp, Enum) and all("doc" in vars(m) for m in tp):
        # A catalogue enum (Reason): `kubectl explain` lists what each value means.
        values = "\n".join(f"- {m.value}: {vars(m)['doc']}" for m in tp)
        description = f"{description or ''}\n{values}".strip()
    if description:
        schema["description"] = description
    if not info.is_required() and info.default is not None and info.default_factory is None:
        default = info.default
        schema["default"] = default.value if isinstance(default, Enum) else default
    immutable = model.crd_immutable if issubclass(model, WireModel) else None
    if immutable is not None and name not in immutable.mutable:
        schema.setdefault("x-kubernetes-validations", []).append(
            {"rule": "self == oldSelf", "message": f"{path} is immutable; {immutable.remedy}"}
        )
    return _ordered(schema)


def object_schema(model: type[WireModel], path: str) -> dict[str, Any]:
    """The schema of a model: its fields as properties, the required ones listed, its own rules."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    rules = [rule.to_crd() for rule in model.crd_rules]
    immutable = model.crd_immutable
    for name, info in model.model_fields.items():
        alias = info.alias or name
        properties[alias] = _field_schema(model, name, info, f"{path}.{alias}" if path else alias)
        if info.is_required():
            required.append(alias)
        elif immutable is not None and name not in immutable.mutable and info.default is None:
            rules.append(
                {
                    "rule": f"has(self.{alias}) == has(oldSelf.{alias})",
                    "message": f"{path}.{alias} cannot be added or removed after creation; {immutable.remedy}",
                    "fieldPath": f".{alias}",
                    "reason": "FieldValueInvalid",
                }
            )
    schema: dict[str, Any] = {"type": "object", "description": _one_line(model.__doc__)}
    if required:
        schema["required"] = required
    if rules:
        schema["x-kubernetes-validations"] = rules
    schema["properties"] = properties
    return _ordered({k: v for k, v in schema.items() if v is not None})


def _root_schema(kind: Kind) -> dict[str, Any]:
    model = kind.model
    # The apiserver owns these three; a CRD declares them only as what they are.
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    for name in ("spec", "status"):
        properties[name] = _field_schema(model, name, model.model_fields[name], name)
    schema = {
        "type": "object",
        "description": _one_line(model.__doc__),
        "required": ["spec"],
        "x-kubernetes-validations": [rule.to_crd() for rule in model.crd_rules],
        "properties": properties,
    }
    return _ordered(schema)


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    columns = [
        {
            k: v
            for k, v in {
                "name": c.name,
                "type": c.type,
                "jsonPath": c.json_path,
                "description": c.description,
                "priority": c.priority,
            }.items()
            if v is not None
        }
        for c in kind.printer_columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "videogen", "app.kubernetes.io/component": "crd"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.name,
                "listKind": f"{kind.name}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": _root_schema(kind)},
                }
            ],
        },
    }


def render(kind: Kind) -> str:
    """The CRD file's text: a header saying where it comes from, then the YAML."""
    body = yaml.safe_dump(crd(kind), sort_keys=False, width=1 << 16, allow_unicode=True)
    return _HEADER.format(kind=kind.name) + body


def rendered_files() -> dict[str, str]:
    """Every generated file by its path relative to the repository root."""
    return {f"{folder}/{kind.singular}.yaml": render(kind) for folder in CRD_FOLDERS for kind in KINDS}
