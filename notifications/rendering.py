"""Templates to text: subject, plain-text body and HTML body, apart from any sending.

Two Jinja2 environments over the same folder, both StrictUndefined (a missing variable is
an error, never an empty string): HTML autoescapes, text does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from domain.money import format_euros
from domain.stages import Stage
from domain.validity import PARIS, format_date_fr
from notifications.context import MailContext

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _date_fr(value: date | datetime | None) -> str:
    return "" if value is None else format_date_fr(value)


def _last_day_fr(end: datetime | None) -> str:
    """A validity end is exclusive (midnight after the last valid day): show the last day."""
    if end is None:
        return ""
    return format_date_fr((end.astimezone(PARIS) - timedelta(days=1)).date())


def _label(value: Any) -> str:
    return "" if value is None else str(getattr(value, "label", value))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if abs(n) < 2 else many}"


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(date_fr=_date_fr, last_day_fr=_last_day_fr, euros=format_euros, label=_label)
    env.globals.update(plural=_plural, Stage=Stage)
    return env


HTML = _environment(autoescape=True)
TEXT = _environment(autoescape=False)


def render_template(template: str, variables: dict[str, Any]) -> Rendered:
    subject = TEXT.get_template(f"{template}.subject.txt").render(variables)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the template's layout
        text=TEXT.get_template(f"{template}.txt").render(variables).strip() + "\n",
        html=HTML.get_template(f"{template}.html").render(variables).strip() + "\n",
    )


def render_message(template: str, ctx: MailContext) -> Rendered:
    return render_template(
        template,
        {
            "ctx": ctx,
            "programme_name": ctx.journey.programme_name,
            "for_beneficiary": ctx.for_beneficiary,
        },
    )
