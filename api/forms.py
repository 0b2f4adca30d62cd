"""HTML forms validated by pydantic models, refused in French with what the user typed kept.

    form = await read_form(request, ReferralForm)
    if not form.ok:
        return render(request, "social/refer.html", {"form": form}, status_code=422)
    try:
        await service.refer(..., **form.data.model_dump())
    except ApiError as exc:  # a refusal from the service: shown on the form, nothing changed
        form.refuse(exc)
        return render(request, "social/refer.html", {"form": form}, status_code=exc.status)

Field names are the model's, dotted for nested models (`person.first_name`). A `list[...]`
field reads every value of its name (checkboxes, multi-select); a `bool` field is true when
present (a checkbox); an empty text box counts as absent, so defaults apply; a `date` field
takes AAAA-MM-JJ (what `<input type="date">` sends) or JJ/MM/AAAA (typed by hand).
A field holding a control character (tab and line breaks aside) is refused, whatever its
model says: no NUL byte reaches PostgreSQL from a form.
The CSRF field is checked by the authentication dependency, not here.
"""

from __future__ import annotations

import re
import types
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.auth import CSRF_FIELD
from api.errors import CONTROL_MESSAGE, ApiError, french_field_errors, page_message

M = TypeVar("M", bound=BaseModel)

FORM_MESSAGE = "Le formulaire contient des erreurs : corrigez les champs signalés."
_DATE_FR = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
# Control characters no form field may hold (a NUL breaks PostgreSQL); tab, LF and CR pass.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_MESSAGES = {
    "date_parsing",
    "date_from_datetime_parsing",
    "date_type",
    "date_from_datetime_inexact",
}


@dataclass
class Form(Generic[M]):
    """A submitted (or blank) form: values as typed, French errors per field, parsed data.

    `errors[""]` holds errors about the whole form (shown in the summary at the top)."""

    values: dict[str, str | list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    parsed: M | None = None

    @classmethod
    def blank(cls, initial: Mapping[str, str | list[str]] | None = None) -> Form[M]:
        """An empty form for a GET, optionally prefilled."""
        return cls(values=dict(initial or {}))

    @property
    def ok(self) -> bool:
        return self.parsed is not None and not self.errors

    @property
    def data(self) -> M:
        if self.parsed is None or self.errors:
            raise ValueError("form not valid")
        return self.parsed

    def value(self, name: str) -> str:
        """What the user typed in a single-valued field ("" if nothing)."""
        found = self.values.get(name, "")
        return found[0] if isinstance(found, list) and found else str(found or "")

    def selected(self, name: str) -> list[str]:
        """The values chosen in a multi-valued field (checkboxes)."""
        found = self.values.get(name, [])
        return list(found) if isinstance(found, list) else [found]

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def add_error(self, name: str, message: str) -> None:
        """Mark a field (or the whole form with name "") as refused."""
        self.errors.setdefault(name, message)
        self.parsed = None

    def refuse(self, exc: ApiError, field_name: str = "") -> None:
        """Show a service's refusal on the form: its per-field details if any, else its
        message on `field_name` (or the whole form)."""
        details = exc.details if isinstance(exc.details, list) else []
        placed = False
        for item in details:
            if isinstance(item, dict) and "field" in item and "message" in item:
                self.add_error(_field_key(str(item["field"])), str(item["message"]))
                placed = True
        if not placed:
            self.add_error(field_name, page_message(exc))

    @property
    def summary(self) -> list[tuple[str, str]]:
        """(field, message) for the error summary, whole-form errors first."""
        return sorted(self.errors.items(), key=lambda item: item[0] != "")


class KeyedForm(BaseModel):
    """A form that changes a journey: its UUID, generated when the form is rendered, is the
    Update's idempotency key once submitted (a double submit changes nothing)."""

    form_id: uuid.UUID


def fresh_key() -> dict[str, str | list[str]]:
    """A blank keyed form's values: a fresh UUID."""
    return {"form_id": str(uuid.uuid4())}


def _field_key(loc: str) -> str:
    """`needs.2` -> `needs`: list items are reported on their field."""
    return ".".join(p for p in loc.split(".") if not p.isdigit())


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of `X | None`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _collect(
    model: type[BaseModel], form: FormData, prefix: str, values: dict[str, str | list[str]]
) -> dict[str, Any]:
    """The nested dict pydantic validates, and (in `values`) what was typed, by name."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        inner, _optional = _unwrap(info.annotation)
        origin = typing.get_origin(inner)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out[name] = _collect(inner, form, f"{key}.", values)
        elif origin in (list, set, tuple, frozenset):
            items = [str(v).strip() for v in form.getlist(key) if str(v).strip()]
            values[key] = items
            out[name] = items
        elif inner is bool:
            raw = form.get(key)
            values[key] = str(raw) if raw is not None else ""
            out[name] = raw is not None and str(raw).lower() not in ("", "0", "false", "non")
        else:
            raw = form.get(key)
            text = str(raw).strip() if raw is not None else ""
            values[key] = str(raw) if raw is not None else ""
            if text == "":
                continue  # absent: the model's default, or "Ce champ est obligatoire."
            if inner is date and (m := _DATE_FR.match(text)):
                text = f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
            out[name] = text
    return out


def parse_form(model: type[M], form: FormData) -> Form[M]:
    """Validate submitted form data against `model` (see the module docstring)."""
    values: dict[str, str | list[str]] = {}
    data = _collect(model, form, "", values)
    values.pop(CSRF_FIELD, None)
    result: Form[M]
    try:
        result = Form(values=values, parsed=model.model_validate(data))
    except ValidationError as exc:
        result = Form(values=values)
        raw = exc.errors()
        for err, french in zip(raw, french_field_errors(list(raw)), strict=True):  # type: ignore[arg-type]
            message = french["message"]
            if err["type"] in _DATE_MESSAGES:
                message = "Une date au format JJ/MM/AAAA est attendue."
            result.add_error(_field_key(french["field"]), message)
    for name, typed in values.items():  # whatever the model says of the field
        if any(_CONTROL.search(text) for text in ([typed] if isinstance(typed, str) else typed)):
            result.errors[name] = CONTROL_MESSAGE
            result.parsed = None
    return result


async def read_form(request: Request, model: type[M]) -> Form[M]:
    """The request's form, validated against `model`."""
    return parse_form(model, await request.form())
