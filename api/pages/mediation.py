"""Mediators' space (/mediation): orientations to answer, trainees, sessions paid with
cheques, exit assessments, the cheques taken this month, and a cheque lookup by serial.

Each POST that changes a journey carries a form UUID (`form_id`, generated when the form
is rendered) that is the idempotency key of the workflow Update: a double submit changes
nothing, and a success redirects (303) to a page.

The session form works without JavaScript: the serial field comes with an "Ajouter"
button, first in the form, so that the Enter a barcode scanner types after the digits
adds the serial to the list (one per line) and shows every verdict at once
(`JourneyService.check_session_cheques`, a dry run of the session's checks).
`static/mediation.js` does the same without reloading the page.

Who may open a journey's pages: the journeys of the structure (api/access.py scope), and,
for the session form only, the journey of a cheque the mediator holds (any qualified
structure may redeem a beneficiary's valid cheque); outside that, 404 for a read and 403
for a write.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session
from starlette.datastructures import FormData

from api import access
from api.access import Change
from api.auth import CurrentUser, User
from api.cheque_service import ChequeService, Lookup, LookupVerdict, lines_of
from api.constraints import MAX_PAGE, TEXT, JourneyIdPath
from api.deps import AppState, State
from api.errors import ApiError, not_found
from api.forms import Form, KeyedForm, fresh_key, parse_form
from api.journey_service import JourneyService
from api.pages import describe_scope, shown_serial, submit
from api.web import render
from domain import contracts as c
from domain.money import format_euros
from domain.months import MONTHS_FR as MONTHS
from domain.needs import (
    MAX_SESSION_MINUTES,
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    Equipment,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.redemption import refusal_summary
from domain.refusals import ChequeVerdict
from domain.security_codes import ChequeLine, split_line
from domain.serials import SerialError
from domain.stages import ChequeStatus, DeclineReason, OrientationStatus, Role, Stage
from domain.validity import last_valid_day, paris_day, paris_today
from records import models, queries

router = APIRouter(prefix="/mediation", include_in_schema=False)

SPACE = "/mediation"
MAX_SERIALS = 20  # per session, as the JSON API (api.schemas.SessionIn)
PAGE_SIZE = 100

TOOL_OPTIONS = AssessmentTool.options()
AUTONOMY_OPTIONS = AutonomyLevel.options()
THEME_OPTIONS = Theme.options()
EQUIPMENT_OPTIONS = Equipment.options()
KIND_OPTIONS = SessionKind.options()
PLACE_OPTIONS = SessionPlace.options()
REASON_OPTIONS = DeclineReason.options()


def _structure(user: User) -> int:
    """The mediator's structure (403 for any other role)."""
    access.require_role(user, Role.MEDIATOR)
    if user.mediation_structure_id is None:
        raise access.forbidden("Votre compte n'est rattaché à aucune structure de médiation.")
    return user.mediation_structure_id


def split_serials(text: str) -> list[str]:
    """The cheques of the list field, one per line (serial then code; blank lines dropped)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


# ---- forms ----


class AnswerForm(KeyedForm):
    pass


class DeclineForm(KeyedForm):
    model_config = ConfigDict(str_strip_whitespace=True)

    decline_reason: DeclineReason | None = Field(default=None, validate_default=True)
    comment: str | None = Field(default=None, max_length=500, pattern=TEXT)

    @field_validator("decline_reason")
    @classmethod
    def _chosen(cls, value: DeclineReason | None) -> DeclineReason | None:
        if value is None:
            raise ValueError("Choisissez le motif du refus.")
        return value


class SessionForm(KeyedForm):
    model_config = ConfigDict(str_strip_whitespace=True)

    day: date
    duration_minutes: int
    kind: SessionKind
    place: SessionPlace
    themes: list[Theme] = []
    equipment: list[Equipment] = []
    autonomy_observed: AutonomyLevel | None = None
    serials: str = Field(default="", max_length=2000, validate_default=True)

    @field_validator("day")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > paris_today():
            raise ValueError(
                "La date de la séance ne peut pas être dans le futur : "
                "enregistrez-la une fois qu'elle a eu lieu."
            )
        return value

    @field_validator("duration_minutes")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("La durée doit être un nombre de minutes positif.")
        if value > MAX_SESSION_MINUTES:
            raise ValueError(
                f"Une séance dure au plus {MAX_SESSION_MINUTES} minutes "
                f"({MAX_SESSION_MINUTES // 60} heures)."
            )
        return value

    @field_validator("serials")
    @classmethod
    def _some(cls, value: str) -> str:
        serials = split_serials(value)
        if not serials:
            raise ValueError("Saisissez ou scannez au moins un chèque (numéro et code).")
        if len(serials) > MAX_SERIALS:
            raise ValueError(f"Une séance se paie avec {MAX_SERIALS} chèques au plus.")
        return value


class ExitForm(submit.AssessmentFields):
    """The exit assessment: the tool and the autonomy reached (no needs)."""


class LookupForm(BaseModel):
    numero: str = Field(max_length=80)


# ---- what the pages show of a journey ----


@dataclass(frozen=True)
class JourneyView:
    id: str
    in_scope: bool  # False: a journey whose cheque the mediator holds (no identity shown)
    first_name: str | None
    commune: str | None
    stage: Stage
    booklet_number: int | None
    cheques_left: int
    last_valid_day: date | None
    needs: list[str]
    entry_autonomy: str | None
    exit_autonomy: str | None

    @property
    def name(self) -> str:
        if not self.in_scope:
            return f"Titulaire du carnet n° {self.booklet_number or '?'}"
        return self.first_name or "Personne anonymisée"


def read_journey(
    session: Session, user: User, journey_id: str, *, write: bool, held: Sequence[str] = ()
) -> JourneyView:
    """The journey as the mediator's pages show it, if `user` may act on it: in their scope,
    or (`held`: canonical serials proved by their security codes, or redeemed by the
    structure) the journey of a cheque they hold. Otherwise 404, or 403 for a write on an
    existing journey."""
    journey = queries.get_journey(session, journey_id)
    if journey is None or journey.programme_code != user.programme_code:
        raise not_found()
    in_scope = access.can_see_journey(user, journey)
    if not in_scope:
        cheques = queries.find_cheques(session, sorted(set(held)))
        if not any(ch.journey_id == journey.id for ch in cheques.values()):
            raise access.forbidden() if write else not_found()
    person = queries.get_beneficiary(session, journey_id) if in_scope else None
    entry = queries.journey_assessment(session, journey_id, AssessmentKind.ENTRY.value)
    programme = queries.get_programme(session, journey.programme_code)
    stage = Stage(journey.stage)
    return JourneyView(
        id=journey.id,
        in_scope=in_scope,
        first_name=person.first_name if person else None,
        commune=person.commune if person else None,
        stage=stage,
        booklet_number=journey.booklet_number,
        cheques_left=journey.cheques_total - journey.cheques_redeemed if stage.is_open else 0,
        last_valid_day=last_valid_day(journey.millesime, programme.grace_months)
        if journey.millesime and programme
        else None,
        needs=list(entry.needs) if entry and in_scope else [],
        entry_autonomy=journey.entry_autonomy,
        exit_autonomy=journey.exit_autonomy,
    )


async def _journey(
    state: AppState, user: User, journey_id: str, *, write: bool, lines: Sequence[str] = ()
) -> JourneyView:
    """The journey, for a mediator in its scope or (`lines`: cheques typed on the session
    form, serial and code) holding one of its cheques; wrong codes are counted."""
    try:
        return await state.db.run(lambda s: read_journey(s, user, journey_id, write=write))
    except ApiError as refused:
        if refused.status not in (403, 404) or not lines:
            raise
    proven = await ChequeService(state, user.programme_code).proven_serials(
        user, journey_id, lines_of(lines)
    )
    return await state.db.run(lambda s: read_journey(s, user, journey_id, write=write, held=proven))


# ---- home ----


def _month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


@router.get("")
async def space(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    structure = _structure(user)
    code = user.programme_code
    start, end = _month_bounds(paris_today())

    def read(s: Session) -> dict[str, Any]:
        pending = queries.pending_orientations(
            s, programme_code=code, mediation_structure_id=structure
        )
        trainees, _ = queries.mediation_trainees(
            s, programme_code=code, mediation_structure_id=structure, limit=PAGE_SIZE
        )
        taken = queries.cheques_redeemed_by(
            s, programme_code=code, mediation_structure_id=structure, start=start, end=end
        )
        programme = queries.get_programme(s, code)
        value = programme.cheque_value_cents if programme else 0
        return {
            "pending": len(pending),
            "in_training": sum(1 for t in trainees if Stage(t.stage).is_open),
            "taken": len(taken),
            "taken_total": format_euros(len(taken) * value),
        }

    counts = await state.db.run(read)
    return render(
        request,
        "mediation/home.html",
        {
            **counts,
            "scope_label": await describe_scope(state, user),
            "month": f"{MONTHS[start.month - 1]} {start.year}",
            "lookup": Form.blank(),
            "nav": "home",
        },
    )


# ---- orientations ----


def _days_since(instant: datetime) -> int:
    return max(0, (paris_today() - paris_day(instant)).days)


@router.get("/orientations")
async def orientations(
    request: Request, state: State, user: CurrentUser, fait: str | None = None
) -> HTMLResponse:
    structure = _structure(user)
    rows = await state.db.run(
        lambda s: queries.pending_orientations(
            s, programme_code=user.programme_code, mediation_structure_id=structure
        )
    )
    items = [
        {
            "row": row,
            "needs": [Theme(n).label for n in row.needs if n in Theme.__members__],
            "days": _days_since(row.since),
            "form_id": str(uuid.uuid4()),
        }
        for row in rows
    ]
    return render(
        request,
        "mediation/orientations.html",
        {"items": items, "declined": fait == "refusee", "nav": "orientations"},
    )


@router.post("/parcours/{journey_id}/accepter")
async def accept(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    structure = _structure(user)
    form = parse_form(AnswerForm, await request.form())
    if not form.ok:
        raise ApiError(422, "invalid_input", "Formulaire incomplet : rechargez la page.")
    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_ANSWER_ORIENTATION,
        request=lambda _: c.OrientationAnswer(
            actor=user.actor, mediation_structure_id=structure, accept=True
        ),
        change=Change.ANSWER_ORIENTATION,
        done=f"{SPACE}/beneficiaires?fait=acceptee",
        shown=lambda _: False,  # no form to show a refusal on: the error page
        mediation_structure_id=structure,
    )
    assert isinstance(sent, RedirectResponse)
    return sent


def _declined_by(session: Session, journey_id: str, structure: int) -> bool:
    """Whether the journey's latest orientation was declined by `structure`."""
    rows = queries.journey_orientations(session, journey_id)
    return (
        bool(rows)
        and rows[-1].mediation_structure_id == structure
        and (rows[-1].status == OrientationStatus.DECLINED)
    )


@router.get("/parcours/{journey_id}/refuser")
async def decline_page(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    _structure(user)
    journey = await _journey(state, user, journey_id, write=False)
    return render(
        request,
        "mediation/decline.html",
        {
            "journey": journey,
            "form": Form.blank(fresh_key()),
            "reasons": REASON_OPTIONS,
            "nav": "orientations",
        },
    )


@router.post("/parcours/{journey_id}/refuser")
async def decline(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    structure = _structure(user)
    try:
        journey = await _journey(state, user, journey_id, write=True)
    except ApiError as exc:
        # The same form sent again once the decline is recorded: the journey has left the
        # structure's scope; answer as the first time rather than with a refusal.
        if exc.status == 403 and await state.db.run(
            lambda s: _declined_by(s, journey_id, structure)
        ):
            return submit.see(f"{SPACE}/orientations?fait=refusee")
        raise
    form = parse_form(DeclineForm, await request.form())
    if form.ok and form.data.decline_reason == DeclineReason.OTHER and not form.data.comment:
        form.add_error("comment", "Précisez le motif du refus.")
    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_ANSWER_ORIENTATION,
        request=lambda data: c.OrientationAnswer(
            actor=user.actor,
            mediation_structure_id=structure,
            accept=False,
            decline_reason=data.decline_reason,
            comment=data.comment,
        ),
        change=Change.ANSWER_ORIENTATION,
        done=f"{SPACE}/orientations?fait=refusee",
        shown=submit.not_out_of_scope,
        mediation_structure_id=structure,
    )
    if isinstance(sent, RedirectResponse):
        return sent
    return render(
        request,
        "mediation/decline.html",
        {"journey": journey, "form": form, "reasons": REASON_OPTIONS, "nav": "orientations"},
        status_code=sent,
    )


# ---- trainees ----


@router.get("/beneficiaires")
async def trainees(
    request: Request,
    state: State,
    user: CurrentUser,
    fait: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> HTMLResponse:
    structure = _structure(user)
    code = user.programme_code

    def read(s: Session) -> tuple[list[queries.TraineeRow], int, int]:
        rows, total = queries.mediation_trainees(
            s,
            programme_code=code,
            mediation_structure_id=structure,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        programme = queries.get_programme(s, code)
        return rows, total, programme.grace_months if programme else 1

    rows, total, grace = await state.db.run(read)
    items = [
        {
            "row": row,
            "open": Stage(row.stage).is_open,
            "valid_until": last_valid_day(row.millesime, grace) if row.millesime else None,
        }
        for row in rows
    ]
    return render(
        request,
        "mediation/trainees.html",
        {
            "items": items,
            "total": total,
            "page": page,
            "has_next": page * PAGE_SIZE < total,
            "done": fait,
            "nav": "trainees",
        },
    )


# ---- sessions ----


class _Day(BaseModel):
    day: date


def _check_day(form: Form[SessionForm]) -> date:
    """The day to check the cheques against: the typed one if it is a valid day, not in
    the future; else today."""
    typed = parse_form(_Day, FormData([("day", form.value("day"))]))
    if typed.ok and typed.data.day <= paris_today():
        return typed.data.day
    return paris_today()


@dataclass(frozen=True)
class VerdictLine:
    typed: str
    shown: str
    accepted: bool
    message: str | None


def verdict_lines(serials: list[str], verdicts: list[ChequeVerdict]) -> list[VerdictLine]:
    return [
        VerdictLine(typed=t, shown=shown_serial(t), accepted=v.accepted, message=v.message)
        for t, v in zip(serials, verdicts, strict=False)
    ]


async def _verdicts(
    state: AppState, user: User, journey_id: str, serials: list[str], day: date
) -> list[VerdictLine]:
    if not serials:
        return []
    verdicts = await JourneyService(state, user.programme_code).check_session_cheques(
        journey_id,
        lines_of(serials[:MAX_SERIALS]),
        day=day,
        mediation_structure_id=_structure(user),
        user=user,
    )
    return verdict_lines(serials, verdicts)


def _session_page(
    request: Request,
    journey: JourneyView,
    form: Form[SessionForm],
    lines: list[VerdictLine],
    *,
    status_code: int = 200,
    focus_serial: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "mediation/session.html",
        {
            "journey": journey,
            "form": form,
            "lines": lines,
            "focus_serial": focus_serial,
            "kinds": KIND_OPTIONS,
            "places": PLACE_OPTIONS,
            "themes": THEME_OPTIONS,
            "equipment": EQUIPMENT_OPTIONS,
            "autonomy": AUTONOMY_OPTIONS,
            "max_minutes": MAX_SESSION_MINUTES,
            "nav": "trainees",
        },
        status_code=status_code,
    )


@router.get("/parcours/{journey_id}/seance")
async def session_page(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    """The session form of a journey of the structure. (For another journey, the cheque
    lookup posts the cheque proved by its code to the form: a code never goes in a URL.)"""
    _structure(user)
    journey = await _journey(state, user, journey_id, write=False)
    form: Form[SessionForm] = Form.blank(
        {
            **fresh_key(),
            "day": paris_today().strftime("%d/%m/%Y"),
            "kind": SessionKind.INDIVIDUAL.value,
            "place": SessionPlace.ON_SITE.value,
            "themes": journey.needs,
            "serials": "",
        }
    )
    return _session_page(request, journey, form, [], focus_serial=True)


@router.post("/parcours/{journey_id}/seance")
async def log_session(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    structure = _structure(user)
    submitted = await request.form()
    form = parse_form(SessionForm, submitted)
    serials = split_serials(form.value("serials"))
    adding = submitted.get("action") != "enregistrer"
    typed = str(submitted.get("serial") or "").strip()
    if adding and typed:
        serials.append(typed)
        form.values["serials"] = "\n".join(serials)
    journey = await _journey(state, user, journey_id, write=True, lines=serials)
    if adding:  # the "Ajouter" button, or Enter in a field: show the verdicts, change nothing
        lines = await _verdicts(state, user, journey_id, serials, _check_day(form))
        shown: Form[SessionForm] = Form(values=form.values)
        return _session_page(request, journey, shown, lines, focus_serial=True)
    if not form.ok:
        lines = await _verdicts(state, user, journey_id, serials, _check_day(form))
        return _session_page(request, journey, form, lines, status_code=422)
    data = form.data
    session_id = str(data.form_id)
    session_request = c.SessionRequest(
        actor=user.actor,
        session_id=session_id,
        mediation_structure_id=structure,
        day=data.day,
        duration_minutes=data.duration_minutes,
        kind=data.kind,
        place=data.place,
        themes=list(data.themes),
        equipment=list(data.equipment),
        autonomy_observed=data.autonomy_observed,
        serials=[],  # the canonical serials, once their codes are checked
    )
    try:
        await JourneyService(state, user.programme_code).log_session(
            journey_id, session_request, lines_of(serials), key=session_id, user=user
        )
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        details = exc.details if isinstance(exc.details, dict) else {}
        verdicts = [ChequeVerdict(**v) for v in details.get("verdicts", [])]
        if verdicts:
            form.add_error("serials", refusal_summary(verdicts))
            lines = verdict_lines(serials, verdicts)
        else:
            form.refuse(exc)
            lines = await _verdicts(state, user, journey_id, serials, data.day)
        return _session_page(request, journey, form, lines, status_code=exc.status)
    return submit.see(f"{SPACE}/parcours/{journey_id}/seances/{session_id}")


@router.post("/parcours/{journey_id}/seance/verifier")
async def check_serials(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    """The verdict list of the session form (static/mediation.js): a dry run, nothing changes."""
    _structure(user)
    form = parse_form(SessionForm, await request.form())
    serials = split_serials(form.value("serials"))
    await _journey(state, user, journey_id, write=True, lines=serials)
    lines = await _verdicts(state, user, journey_id, serials, _check_day(form))
    return render(request, "mediation/_verdicts.html", {"lines": lines})


@router.get("/parcours/{journey_id}/seances/{session_id}")
async def session_receipt(
    request: Request,
    state: State,
    user: CurrentUser,
    journey_id: JourneyIdPath,
    session_id: JourneyIdPath,
) -> HTMLResponse:
    structure = _structure(user)

    def read(s: Session) -> tuple[JourneyView, models.TrainingSession]:
        training = queries.get_training_session(s, session_id)
        if (
            training is None
            or training.journey_id != journey_id
            or training.mediation_structure_id != structure
        ):
            raise not_found("Séance")
        return read_journey(s, user, journey_id, write=False, held=training.serials), training

    journey, training = await state.db.run(read)
    return render(
        request,
        "mediation/receipt.html",
        {
            "journey": journey,
            "training": training,
            "serials": [shown_serial(x) for x in training.serials],
            "kind": SessionKind(training.kind).label,
            "place": SessionPlace(training.place).label,
            "themes": [Theme(t).label for t in training.themes],
            "equipment": [Equipment(e).label for e in training.equipment],
            "autonomy": AutonomyLevel(training.autonomy_observed).label
            if training.autonomy_observed
            else None,
            "nav": "trainees",
        },
    )


# ---- exit assessment ----


def _exit_page(
    request: Request, journey: JourneyView, form: Form[ExitForm], status_code: int = 200
) -> HTMLResponse:
    entry = AutonomyLevel(journey.entry_autonomy).label if journey.entry_autonomy else None
    return render(
        request,
        "mediation/exit.html",
        {
            "journey": journey,
            "form": form,
            "tools": TOOL_OPTIONS,
            "autonomy": AUTONOMY_OPTIONS,
            "entry_autonomy": entry,
            "nav": "trainees",
        },
        status_code=status_code,
    )


@router.get("/parcours/{journey_id}/diagnostic-sortie")
async def exit_page(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    _structure(user)
    journey = await _journey(state, user, journey_id, write=False)
    initial = {**fresh_key(), "autonomy": journey.exit_autonomy or ""}
    return _exit_page(request, journey, Form.blank(initial))


@router.post("/parcours/{journey_id}/diagnostic-sortie")
async def exit_assessment(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    _structure(user)
    journey = await _journey(state, user, journey_id, write=True)
    form = parse_form(ExitForm, await request.form())
    sent = await submit.assess(
        state,
        user,
        journey_id,
        form,
        kind=AssessmentKind.EXIT,
        needs=lambda _: [],
        done=f"{SPACE}/beneficiaires?fait=diagnostic",
    )
    if isinstance(sent, RedirectResponse):
        return sent
    return _exit_page(request, journey, form, sent)


# ---- cheques taken ----

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month_of(text: str | None) -> date:
    today = paris_today()
    if text and (m := _MONTH.match(text)) and 1 <= int(m[2]) <= 12 and int(m[1]) >= 2000:
        first = date(int(m[1]), int(m[2]), 1)
        if first <= today:
            return first
    return today.replace(day=1)


@router.get("/cheques")
async def cheques_taken(
    request: Request,
    state: State,
    user: CurrentUser,
    mois: Annotated[str | None, Query(max_length=7)] = None,
) -> HTMLResponse:
    structure = _structure(user)
    start, end = _month_bounds(_month_of(mois))
    code = user.programme_code

    def read(s: Session) -> tuple[list[queries.RedeemedChequeRow], int]:
        rows = queries.cheques_redeemed_by(
            s, programme_code=code, mediation_structure_id=structure, start=start, end=end
        )
        programme = queries.get_programme(s, code)
        return rows, programme.cheque_value_cents if programme else 0

    rows, value = await state.db.run(read)
    previous = _month_bounds(date.fromordinal(start.toordinal() - 1))[0]
    return render(
        request,
        "mediation/cheques.html",
        {
            "rows": [
                {
                    "row": r,
                    "shown": shown_serial(r.serial),
                    "status": ChequeStatus(r.status).label,
                }
                for r in rows
            ],
            "total": format_euros(len(rows) * value),
            "value": format_euros(value),
            "month": f"{MONTHS[start.month - 1]} {start.year}",
            "previous": f"{previous:%Y-%m}",
            "previous_label": f"{MONTHS[previous.month - 1]} {previous.year}",
            "next": f"{end:%Y-%m}" if end <= paris_today() else None,
            "next_label": f"{MONTHS[end.month - 1]} {end.year}",
            "nav": "cheques",
        },
    )


# ---- cheque lookup ----


@router.get("/cheque")
async def lookup(
    request: Request,
    state: State,
    user: CurrentUser,
    numero: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """Find a cheque of the programme: by its serial alone, its verdict; with its security
    code (POST below), the session form of its journey, even when its holder was not
    oriented to this structure (the person chooses where to spend their cheques)."""
    _structure(user)
    form: Form[LookupForm] = Form.blank({"numero": numero or ""})
    found: Lookup | None = None
    status = 200
    if numero is not None:
        found, status = await _lookup(state, user, form, split_line(numero).serial, None)
    return _lookup_page(request, form, found, status)


@router.post("/cheque")
async def verify(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    """The cheque typed or scanned with its code: a wrong code is counted like one typed for
    a session (too many lock the booklet)."""
    _structure(user)
    submitted = await request.form()
    typed = str(submitted.get("numero") or "")[:80]
    form: Form[LookupForm] = Form.blank({"numero": typed})
    line = split_line(typed)
    found, status = await _lookup(state, user, form, line.serial, line if line.code else None)
    return _lookup_page(request, form, found, status, line=typed if found else None)


async def _lookup(
    state: AppState,
    user: User,
    form: Form[LookupForm],
    serial: str,
    line: ChequeLine | None,
) -> tuple[Lookup | None, int]:
    if not serial.strip():
        form.add_error("numero", "Saisissez ou scannez un numéro de chèque.")
        return None, 422
    service = ChequeService(state, user.programme_code)
    try:
        found = await (service.verify(user, line) if line else service.lookup(user, serial))
    except SerialError as err:
        form.add_error("numero", err.message)
        return None, 422
    if found.verdict == LookupVerdict.UNKNOWN:
        form.add_error("numero", f"Aucun chèque du programme ne porte le numéro {found.display}.")
        return None, 404
    return found, 200


def _lookup_page(
    request: Request,
    form: Form[LookupForm],
    found: Lookup | None,
    status: int,
    *,
    line: str | None = None,
) -> HTMLResponse:
    proven = found is not None and found.code_verdict is not None and found.code_verdict.accepted
    if found is not None and not found.revealed:  # nothing of the journey behind it
        found = dataclasses.replace(found, cheque=None, journey=None)
    return render(
        request,
        "mediation/lookup.html",
        {
            "form": form,
            "found": found,
            "proven": proven,
            "usable": found is not None and found.verdict == LookupVerdict.USABLE,
            "line": line,
            "session_form": fresh_key()
            | {
                "day": paris_today().strftime("%d/%m/%Y"),
                "kind": SessionKind.INDIVIDUAL.value,
                "place": SessionPlace.ON_SITE.value,
            },
            "nav": "lookup",
        },
        status_code=status,
    )
