"""Server-rendered French pages: the Jinja2 environment, its filters, and `render`.

Conventions for page authors:

- templates in `api/templates/` (one folder per role space: `social/`, `mediation/`,
  `coordination/`, `admin/`), each extending `base.html` and filling `title` and
  `content`; fragments (htmx or includes) in `api/templates/fragments/`; form macros in
  `fragments/forms.html`;
- every variable a template uses must be passed: the environment is StrictUndefined;
- `render(request, "social/list.html", {"journeys": rows})` adds what the layout needs:
  `request`, `user` (the signed-in `User` or None), `csrf_token`, `role_space` (the URL of
  the user's space); `{{ csrf_input() }}` goes into every `<form method="post">`;
- filters: `date_fr` (dd/mm/yyyy, Europe/Paris), `datetime_fr` (dd/mm/yyyy à HH:MM),
  `euros` (cents -> "10,00 €"), `count` (9000 -> "9 000"), `stage` (Stage value -> French label), `role` (Role value
  -> French label).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from markupsafe import Markup, escape

from api.auth import ANON_COOKIE, CSRF_FIELD, User, anonymous_csrf, set_cookie
from domain.money import format_count, format_euros
from domain.refusals import LOSS_PARTICIPLES
from domain.stages import Action, LossReason, Role, Stage
from domain.validity import PARIS, format_date_fr

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")

# Where each role lands after login (`/` redirects there); each space's pages live under it.
SPACE_BY_ROLE: dict[Role, str] = {
    Role.SOCIAL_WORKER: "/accompagnement",
    Role.MEDIATOR: "/mediation",
    Role.COORDINATOR: "/coordination",
    Role.ADMINISTRATOR: "/administration",
}


def datetime_fr(instant: datetime | None) -> str:
    if instant is None:
        return ""
    local = instant.astimezone(PARIS)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def date_fr(value: date | datetime | None) -> str:
    return "" if value is None else format_date_fr(value)


def stage_label(value: str | Stage) -> str:
    return Stage(value).label


def role_label(value: str | Role) -> str:
    return Role(value).label


def lost_how(reason: str | None) -> str:
    """ "perdu", "volé", "abîmé": a lost booklet's reason (domain.stages.LossReason)."""
    if reason is None or reason not in LossReason.__members__:
        return "perdu"
    return LOSS_PARTICIPLES[LossReason(reason)]


@pass_context
def csrf_input(context: Mapping[str, Any]) -> Markup:
    """The hidden CSRF field every POST form carries."""
    return Markup(
        f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(context["csrf_token"])}">'
    )


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        date_fr=date_fr,
        datetime_fr=datetime_fr,
        euros=format_euros,
        count=format_count,
        stage=stage_label,
        role=role_label,
        lost_how=lost_how,
    )
    env.globals.update(csrf_input=csrf_input)
    return env


templates = Jinja2Templates(env=make_environment())


def current_user(request: Request) -> User | None:
    """The user authenticated for this request, if any dependency looked."""
    user: User | None = getattr(request.state, "user", None)
    return user


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the layout's variables added (see the module docstring)."""
    user = current_user(request)
    new_anon_key = None
    if user is not None and user.csrf_token is not None:
        csrf_token = user.csrf_token
    else:
        csrf_token, new_anon_key = anonymous_csrf(request, request.app.state.passnum.settings)
    full = {
        "user": user,
        "csrf_token": csrf_token,
        "role_space": SPACE_BY_ROLE.get(user.role, "/") if user else "/",
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
    if new_anon_key is not None:
        set_cookie(
            response,
            request,
            request.app.state.passnum.settings,
            ANON_COOKIE,
            new_anon_key,
            max_age=None,
        )
    return response


ERROR_TITLES = {
    400: "Requête invalide",
    401: "Connexion nécessaire",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible",
    409: "Action impossible",
    422: "Saisie invalide",
    429: "Trop de tentatives",
    500: "Erreur interne",
    503: "Service indisponible",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The French error page (403, 404, ...)."""
    return render(
        request,
        "error.html",
        {"status": status, "title": ERROR_TITLES.get(status, "Erreur"), "message": message},
        status_code=status,
    )


# ---- a journey's timeline (fragments/timeline.html), shared by every role's journey page ----


@dataclass(frozen=True)
class TimelineEntry:
    """One transition-log row as people read it."""

    at: datetime
    label: str  # what happened (domain.stages.Action label)
    who: str  # the account's name, else its role; "passnum" for the calendar
    stages: str | None  # "Carnet remis → Orientation en attente", None if the stage stayed
    reason: str | None
    structure: str | None  # the mediation structure an orientation went to, if any
    notes: tuple[str, ...] = ()  # what else the entry says (timeline_notes)


def structure_ids_of(detail: Mapping[str, Any] | None) -> set[int]:
    """The mediation structures a transition-log entry names (to look their names up)."""
    return {
        int(v)
        for k in ("mediation_structure_id", "previous_mediation_structure_id")
        if str(v := (detail or {}).get(k, "")).isdigit()
    }


def timeline_notes(
    action: str, detail: Mapping[str, Any] | None, structures: Mapping[int, str]
) -> tuple[str, ...]:
    """The sentences a log entry adds beyond its label, for every timeline: a session at
    another structure is the person's change of structure (never silent); a booklet locked
    says after how many wrong codes."""
    detail = detail or {}
    notes: list[str] = []
    previous = str(detail.get("previous_mediation_structure_id", ""))
    if detail.get("extra_action") == Action.MEDIATOR_CHANGED.value and previous.isdigit():
        now = str(detail.get("mediation_structure_id", ""))
        chosen = structures.get(int(now), f"structure n° {now}") if now.isdigit() else "?"
        before = structures.get(int(previous), f"structure n° {previous}")
        notes.append(
            f"{Action.MEDIATOR_CHANGED.label} : la personne a choisi {chosen} "
            f"(auparavant {before}), qui a encaissé ses chèques. {before} en est informée."
        )
    if action == Action.BOOKLET_LOCKED.value and str(detail.get("failures", "")).isdigit():
        notes.append(
            f"{detail['failures']} codes de sécurité erronés saisis : aucun chèque du carnet "
            "ne peut être encaissé avant son déblocage par la coordination."
        )
    if action == Action.BOOKLET_LOST.value:
        notes.append(lost_booklet_note(detail))
    return tuple(notes)


def lost_booklet_note(detail: Mapping[str, Any]) -> str:
    """What a BOOKLET_LOST entry says: which booklet, lost how and when, and its
    replacement."""
    how = lost_how(str(detail.get("loss_reason", "")))
    lost_on = str(detail.get("lost_on", ""))
    try:
        when = f" le {format_date_fr(date.fromisoformat(lost_on))}"
    except ValueError:
        when = ""
    count = str(detail.get("cheques", "?"))
    return (
        f"Carnet n° {detail.get('lost_booklet_number', '?')} déclaré {how}{when} : ses "
        f"{count} chèques non utilisés sont annulés. Carnet de remplacement "
        f"n° {detail.get('booklet_number', '?')} remis avec {count} chèques "
        f"(millésime {detail.get('millesime', '?')}), bordereau à imprimer."
    )


def timeline_entries(
    rows: Iterable[Any], names: Mapping[str, str], structures: Mapping[int, str]
) -> list[TimelineEntry]:
    """TimelineEntry per `records.queries.TimelineRow`. `names`: account names by
    actor ref (`records.accounts.names_by_ref`); `structures`: mediation structure names."""
    out = []
    for row in rows:
        role = Role(row.actor_role)
        who = (
            "passnum (automatique)"
            if role == Role.SYSTEM
            else names.get(row.actor_ref) or role.label
        )
        moved = row.from_stage is not None and row.from_stage != row.to_stage
        structure_id = (row.detail or {}).get("mediation_structure_id")
        structure = None
        if structure_id and str(structure_id).isdigit():
            structure = structures.get(int(structure_id), f"structure n° {structure_id}")
        out.append(
            TimelineEntry(
                at=row.at,
                label=Action(row.action).label,
                who=who,
                stages=f"{stage_label(row.from_stage)} → {stage_label(row.to_stage)}"
                if moved
                else None,
                reason=row.reason,
                structure=structure,
                notes=timeline_notes(row.action, row.detail, structures),
            )
        )
    return out
