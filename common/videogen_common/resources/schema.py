"""The vocabulary the resource types are written in: what a field declares for the CRD beside its Python type.

A resource type is a pydantic model (:class:`WireModel`): camelCase on the wire, snake_case in Python, the field's
docstring as its description. Ranges and lengths are pydantic's own constraints (``Field(ge=, le=, max_length=)``);
what pydantic has no word for is said with the markers below, next to the field it governs:

- :class:`Format` (``int32``, ``int64``, ``double``, ``date-time``): the OpenAPI format; every integer declares one.
- :class:`Pattern`: a regular expression with the message a person gets when a value does not match it.
- :class:`Rule`: one CEL rule (``x-kubernetes-validations``), with its Python restatement where CEL can be
  restated, so a client of the types (the API) refuses what the apiserver refuses, with the same message.
- :class:`ListMap` / :class:`ListSet`: ``x-kubernetes-list-type``.
- :class:`Immutable` (a class variable of a spec model): every field but the listed ones is fixed at creation.

``videogen_common.resources.crd`` turns the models into the CRDs; nothing else restates these facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

__all__ = ["Format", "Immutable", "ListMap", "ListSet", "Pattern", "Rule", "WireModel"]


class WireModel(BaseModel):
    """camelCase on the wire (as in the CRDs), snake_case in Python; field docstrings are the descriptions.

    Unknown keys are ignored: a reader never fails on a field a newer writer added (the apiserver prunes what the
    CRD does not declare, so objects read from the cluster carry none anyway).
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", use_attribute_docstrings=True
    )
    #: Cross-field CEL rules of this object (``x-kubernetes-validations`` on the object itself).
    crd_rules: ClassVar[tuple[Rule, ...]] = ()
    #: Set on spec models whose fields cannot change after creation.
    crd_immutable: ClassVar[Immutable | None] = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> WireModel:
        problems = [problem for rule in self.crd_rules if (problem := rule.problem(self)) is not None]
        if problems:
            raise PydanticCustomError("crd_rule", "{problem}", {"problem": "; ".join(problems)})
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON document (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def to_json(self) -> str:
        """:meth:`to_wire` as compact JSON text."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class Format:
    """The OpenAPI ``format`` of a field."""

    name: Literal["int32", "int64", "double", "date-time"]


@dataclass(frozen=True)
class ListMap:
    """``x-kubernetes-list-type: map`` keyed by these fields (e.g. conditions by ``type``)."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class ListSet:
    """``x-kubernetes-list-type: set``: no value twice."""


@dataclass(frozen=True)
class Immutable:
    """Every field of the spec is fixed once the object exists, except ``mutable`` (which declare their own rules).

    The CRD gets ``self == oldSelf`` on each field and, for each optional field, a rule that it cannot be added or
    removed later; the messages name the field and say to ``remedy``.
    """

    remedy: str
    mutable: tuple[str, ...] = ()


def _python_pattern(regex: str) -> re.Pattern[str]:
    # CRD patterns are Go regular expressions, where ^ and $ are the start and end of the text; Python's $ also
    # matches before a final newline, so anchor with \A and \Z.
    body = regex.removeprefix("^")
    anchored_end = body.endswith("$")
    body = body.removesuffix("$")
    return re.compile(r"\A(?:" + body + (r")\Z" if anchored_end else ")"))


@dataclass(frozen=True)
class Pattern:
    """``pattern`` in the CRD; in Python the same expression, refusing with ``message``."""

    regex: str
    message: str
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _python_pattern(self.regex))

    def matches(self, value: str) -> bool:
        return self._compiled.search(value) is not None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: str) -> str:
            if not self.matches(value):
                raise PydanticCustomError("pattern", "{problem}", {"problem": self.message})
            return value

        return core_schema.no_info_after_validator_function(validate, handler(source))


@dataclass(frozen=True)
class Rule:
    """One CEL rule. ``check`` restates it in Python where it can be (never for rules on ``oldSelf``).

    On a field, ``check`` gets the field's value; in a model's ``crd_rules``, the model. The Python message is
    ``explain(value)`` when given (for rules whose CRD message is a ``message_expression``), else ``message``.
    """

    cel: str
    message: str = ""
    message_expression: str | None = None
    field_path: str | None = None
    reason: Literal["FieldValueInvalid", "FieldValueRequired", "FieldValueForbidden", "FieldValueDuplicate"] | None = (
        None
    )
    check: Callable[[Any], bool] | None = field(default=None, compare=False)
    explain: Callable[[Any], str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.message and self.message_expression is None:
            raise ValueError(f"CEL rule {self.cel!r} needs a message")

    def problem(self, value: Any) -> str | None:
        """The Python restatement's verdict: None when ``value`` passes (or there is nothing to check)."""
        if self.check is None or self.check(value):
            return None
        return self.explain(value) if self.explain is not None else self.message

    def to_crd(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"rule": self.cel}
        if self.message_expression is not None:
            doc["messageExpression"] = self.message_expression
        else:
            doc["message"] = self.message
        if self.field_path is not None:
            doc["fieldPath"] = self.field_path
        if self.reason is not None:
            doc["reason"] = self.reason
        return doc

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        schema = handler(source)
        if self.check is None:
            return schema

        def validate(value: Any) -> Any:
            if (problem := self.problem(value)) is not None:
                raise PydanticCustomError("crd_rule", "{problem}", {"problem": problem})
            return value

        return core_schema.no_info_after_validator_function(validate, schema)
