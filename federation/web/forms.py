"""HTML forms for records: fields generated from pydantic models, form data turned into record documents.

A field's `name` is its dotted path in the record ("title", "place.commune", "details.surface_m2"). Forms
send strings; `payload_from_form` turns them into the JSON document the API would receive, so validation is
the API's own (schema, service type details, plugins' `validate_record`).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen
from multidict import MultiMapping
from pydantic import BaseModel
from pydantic.fields import FieldInfo

# Widgets: how a value is typed in and read back.
TEXT, TEXTAREA, INTEGER, NUMBER, DATE, SELECT, CHECKBOXES, LINES, CODES, YESNO = (
    "text",
    "textarea",
    "integer",
    "number",
    "date",
    "select",
    "checkboxes",
    "lines",
    "codes",
    "yesno",
)
LIST_WIDGETS = frozenset({CHECKBOXES, LINES, CODES})


@dataclass(frozen=True)
class FormField:
    """One input of a form. Core labels are English msgids (translated when shown); plugins' titles are not."""

    name: str
    label: str
    widget: str = TEXT
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    translate: bool = True
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass
class FormState:
    """What a form shows: its fields, the values to put in them and the errors next to them."""

    fields: list[FormField]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    form_errors: list[str] = field(default_factory=list)
    warnings: dict[str, str] = field(default_factory=dict)  # shown next to a field, without refusing its value

    @property
    def invalid(self) -> bool:
        return bool(self.errors or self.form_errors)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `None` and without `Annotated` metadata, whether None was allowed).

    The metadata (validators, JSON Schema notes, e.g. of `DistinctChoices`) is the model's business: the form
    only needs the type to choose its widget."""
    allows_none = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            annotation, allows_none = args[0], True
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation, allows_none


def _choices(annotation: Any) -> tuple[tuple[str, str], ...] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return tuple((str(value), str(value)) for value in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple((str(member.value), str(member.value)) for member in annotation)
    return None


def _bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        if isinstance(constraint, Ge | Gt):
            bounds["minimum"] = float(constraint.ge if isinstance(constraint, Ge) else constraint.gt)  # type: ignore[arg-type]
        elif isinstance(constraint, Le | Lt):
            bounds["maximum"] = float(constraint.le if isinstance(constraint, Le) else constraint.lt)  # type: ignore[arg-type]
        elif isinstance(constraint, MaxLen):
            bounds["max_length"] = constraint.max_length
    return bounds


def model_fields(model: type[BaseModel], prefix: str) -> list[FormField]:
    """Form fields for every field of a plugin's model (e.g. a service type's details), labelled by its titles.

    Numbers, dates, yes/no, choices (Literal or Enum), multiple choices (list of those), lists of text (one per
    line) and text are supported; a field of another type is edited as text and validated by the model.
    """
    fields = []
    for name, info in model.model_fields.items():
        annotation, optional = _unwrap_optional(info.annotation)
        widget, choices = TEXT, tuple[tuple[str, str], ...]()
        if annotation is bool:
            widget = YESNO
        elif annotation is int:
            widget = INTEGER
        elif annotation is float:
            widget = NUMBER
        elif annotation is dt.date:
            widget = DATE
        elif (found := _choices(annotation)) is not None:
            widget, choices = SELECT, found
        elif typing.get_origin(annotation) in (list, set, tuple):
            item = (typing.get_args(annotation) or (str,))[0]
            found = _choices(item)
            widget, choices = (CHECKBOXES, found) if found is not None else (LINES, ())
        fields.append(
            FormField(
                name=f"{prefix}.{name}",
                label=info.title or name.replace("_", " ").capitalize(),
                widget=widget,
                required=info.is_required() and not optional,
                choices=choices,
                hint=info.description or "",
                translate=False,
                **_bounds(info),
            )
        )
    return fields


def _get(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = document
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    if value is None:
        target.pop(last, None)
    else:
        target[last] = value


def values_from_record(fields: Iterable[FormField], document: Mapping[str, Any]) -> dict[str, Any]:
    """What to show in each input for a stored record."""
    values: dict[str, Any] = {}
    for form_field in fields:
        value = _get(document, form_field.name)
        if form_field.widget in LIST_WIDGETS:
            values[form_field.name] = [str(item) for item in value or []]
        elif form_field.widget == YESNO:
            values[form_field.name] = "" if value is None else ("true" if value else "false")
        else:
            values[form_field.name] = "" if value is None else str(value)
    return values


def values_from_form(fields: Iterable[FormField], form: MultiMapping[Any]) -> dict[str, Any]:
    """What the user typed, to show it again next to the errors."""
    values: dict[str, Any] = {}
    for form_field in fields:
        if form_field.widget == CHECKBOXES:
            values[form_field.name] = [str(item) for item in form.getall(form_field.name, [])]
        elif form_field.widget in (LINES, CODES):
            values[form_field.name] = split_items(form_field.widget, str(form.get(form_field.name, "")))
        else:
            values[form_field.name] = str(form.get(form_field.name, ""))
    return values


def split_items(widget: str, text: str) -> list[str]:
    """The items of a list typed as text: codes separated by spaces, commas or semicolons; lines otherwise."""
    separators = r"[\s,;]+" if widget in (CODES, CHECKBOXES) else r"[\r\n]+"
    return [item.strip() for item in re.split(separators, text) if item.strip()]


def _typed(form_field: FormField, value: Any) -> Any:
    """A form value as JSON would carry it; None drops the key so the model's default applies."""
    if form_field.widget in LIST_WIDGETS or value is None:
        return value or None
    text = str(value).strip()
    if not text:
        return None
    if form_field.widget == YESNO:
        return {"true": True, "false": False}.get(text, text)
    if form_field.widget in (INTEGER, NUMBER):
        return _number(form_field.widget, text)
    return text


def _number(widget: str, text: str) -> Any:
    """A typed number, accepting a French decimal comma and thousands spaces ("1 200,5").

    Text that is not a number is returned as is, for the model to refuse with its usual message.
    """
    cleaned = text.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        number = float(cleaned)
    except ValueError:
        return text
    if widget == INTEGER and number.is_integer():
        return int(number)
    return number


def payload_from_form(
    fields: Sequence[FormField], values: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The record document: `base` (the stored record's data, so fields without an input are kept) with
    every form value set at its path."""
    document = copy.deepcopy(dict(base or {}))
    for form_field in fields:
        _set(document, form_field.name, _typed(form_field, values.get(form_field.name)))
    return document


def field_for_pointer(fields: Iterable[FormField], pointer: str) -> str | None:
    """The form field a JSON Pointer from a validation error belongs to ("/place/qpv/0" → "place.qpv")."""
    names = {form_field.name for form_field in fields}
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.strip("/").split("/") if part]
    while parts:
        candidate = ".".join(parts)
        if candidate in names:
            return candidate
        parts.pop()
    return None
