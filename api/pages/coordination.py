"""Coordinators' space: programme overview, stalled journeys, actions (nudge, re-orient,
withdraw), cheque lookup and the journey page with its timeline.

Scope: a coordinator sees the journeys of their EPCI, or of the whole programme
(`api.access.journey_scope`). Reads outside it answer 404, changes 403; other roles get
403 on every page of the space. Changes go through `JourneyService.update` (the same
service as the JSON API) with the form's UUID as the Update's idempotency key, then
redirect (303) to the journey page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlmodel import Session

from api import access, reports
from api import programme_reads as reads
from api.access import Change
from api.auth import CurrentUser, User
from api.constraints import TEXT, Id, JourneyIdPath, parse_id
from api.deps import AppState, State
from api.errors import ApiError, not_found
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.journey_service import JourneyService
from api.pages import letters, submit
from api.web import TimelineEntry, render, timeline_entries
from domain import clock
from domain import contracts as c
from domain.serials import SerialError, parse_serial
from domain.stages import OPEN_STAGES, ChequeStatus, Outcome, Role, Stage
from domain.validity import last_valid_day, paris_today
from records import accounts, coordination, duplicates, models, queries

router = APIRouter(prefix="/coordination", include_in_schema=False)
PAGE_SIZE = 25
Text = Annotated[str, Field(min_length=1, max_length=500, pattern=TEXT)]
F = TypeVar("F", bound=KeyedForm)

DONE_MESSAGES = {
    "relance": "La relance est envoyée : la structure qui doit agir est prévenue.",
    "reorientation": "Le parcours est réorienté : la nouvelle structure doit répondre.",
    "sortie": "La sortie du dispositif est enregistrée : le parcours est clôturé.",
    "second-carnet": "Un second carnet est autorisé : la structure d'accueil peut le remettre.",
    "deblocage": "Le carnet est débloqué : ses chèques peuvent de nouveau être encaissés.",
    "carnet-perdu": (
        "Le carnet est annulé et remplacé : la structure d'accueil imprime le bordereau du "
        "carnet de remplacement et le remet à la personne."
    ),
}


NOT_QUALIFIED = "Cette structure n'est pas qualifiée APTIC aujourd'hui : choisissez-en une autre."


class NudgeForm(KeyedForm):
    message: str | None = Field(default=None, max_length=500, pattern=TEXT)


class UnlockForm(KeyedForm):
    pass


class ReorientForm(KeyedForm):
    mediation_structure_id: Id
    reason: Text


class WithdrawForm(KeyedForm):
    reason: Text


def _coordinator(user: User) -> None:
    access.require_role(user, Role.COORDINATOR)


async def _programme(state: AppState, user: User) -> models.Programme:
    return await JourneyService(state, user.programme_code).programme()


# ---- overview ----


@router.get("")
async def overview(
    request: Request,
    state: State,
    user: CurrentUser,
    epci: Annotated[str | None, Query(max_length=12)] = None,
    structure: Annotated[str | None, Query(max_length=24)] = None,
    millesime: Annotated[str | None, Query(max_length=6)] = None,
    du: Annotated[str | None, Query(max_length=10)] = None,
    au: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    _coordinator(user)
    filters = reports.parse_filters(
        user, epci=epci, structure=structure, millesime=millesime, du=du, au=au
    )
    report = await state.db.run(lambda s: reports.overview(s, user, filters.applied))
    return render(
        request,
        "coordination/overview.html",
        {
            **filter_context(user, filters, report),
            "r": report,
            "o": report.figures,
            "banner_min": coordination.EXPIRING_BANNER_MIN,
            "offered": reads.millesimes_today(report.programme).offered,
        },
    )


def filter_context(
    user: User, filters: reports.Filters, report: reports.OverviewReport
) -> dict[str, Any]:
    """What the filters' form (coordination/_filters.html) shows."""
    return {
        "names": report.names,
        "form": Form.blank(filters.typed),
        "filtered": any(filters.typed.values()),
        "millesime_options": [
            ("0", "Sans carnet"),
            *((str(y), str(y)) for y in report.millesimes),
        ],
        "ignored": filters.ignored,
        "whole": user.epci_id is None,
    }


# ---- stalled journeys ----


@router.get("/bloques")
async def stalled(
    request: Request,
    state: State,
    user: CurrentUser,
    epci: Annotated[str | None, Query(max_length=12)] = None,
    etape: Annotated[str | None, Query(max_length=20)] = None,
    structure: Annotated[str | None, Query(max_length=24)] = None,
    page: Annotated[str | None, Query(max_length=6)] = None,
) -> HTMLResponse:
    _coordinator(user)
    stage = etape if etape in {s.value for s in OPEN_STAGES} else None
    kind, _, structure_id = (structure or "").partition("-")
    filters = coordination.StalledFilter(
        epci_id=parse_id(epci) if user.epci_id is None else None,
        stage=stage,
        reception_structure_id=parse_id(structure_id) if kind == "accueil" else None,
        mediation_structure_id=parse_id(structure_id) if kind == "mediation" else None,
    )
    number = max(parse_id(page) or 1, 1)
    scope = access.journey_scope(user)
    programme = await _programme(state, user)

    def read(session: Session) -> dict[str, Any]:
        rows, total = coordination.stalled_journeys(
            session,
            programme_code=user.programme_code,
            scope=scope,
            filters=filters,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
        assert programme.id is not None
        people = queries.beneficiaries_for(session, [r.id for r in rows])
        return {
            "rows": rows,
            "total": total,
            "people": people,
            "names": coordination.reference_names(session, programme.id),
        }

    found = await state.db.run(read)
    chosen = {
        "epci": str(filters.epci_id or ""),
        "etape": stage or "",
        "structure": (structure or "")
        if (filters.reception_structure_id or filters.mediation_structure_id)
        else "",
    }

    def link(to_page: int) -> str:
        return "?" + urlencode({k: v for k, v in {**chosen, "page": str(to_page)}.items() if v})

    return render(
        request,
        "coordination/stalled.html",
        {
            **found,
            "form": Form.blank(chosen),
            "stages": [(s.value, s.label) for s in Stage if s in OPEN_STAGES],
            "pick_epci": user.epci_id is None,
            "page": number,
            "pages": max(1, -(-found["total"] // PAGE_SIZE)),
            "previous_link": link(number - 1) if number > 1 else None,
            "next_link": link(number + 1) if number * PAGE_SIZE < found["total"] else None,
            "now": clock.now(),
        },
    )


# ---- cheque lookup ----


@dataclass(frozen=True)
class ChequeView:
    display: str
    status_label: str
    millesime: int
    booklet_number: int
    number: int
    valid_until_day: date
    redeemed_on: date | None
    structure: str | None
    journey_id: str
    journey_stage: str


@router.get("/cheques")
async def cheque_lookup(
    request: Request,
    state: State,
    user: CurrentUser,
    numero: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    _coordinator(user)
    form: Form[Any] = Form.blank({"numero": numero or ""})
    view: ChequeView | None = None
    status_code = 200
    if numero is not None and numero.strip():
        try:
            serial = parse_serial(numero)
        except SerialError as err:
            form.add_error("numero", err.message)
            status_code = 422
        else:
            view = await state.db.run(
                lambda s: _cheque_view(s, user, serial.digits, serial.display)
            )
            if view is None:
                form.add_error(
                    "numero",
                    f"Aucun chèque de votre périmètre ne porte le numéro {serial.display}.",
                )
                status_code = 404
    elif numero is not None:
        form.add_error("numero", "Saisissez le numéro imprimé sur le chèque.")
        status_code = 422
    return render(
        request, "coordination/cheque.html", {"form": form, "cheque": view}, status_code=status_code
    )


def _cheque_view(session: Session, user: User, digits: str, display: str) -> ChequeView | None:
    cheque = queries.find_cheque(session, digits)
    journey = queries.get_journey(session, cheque.journey_id) if cheque else None
    if cheque is None or journey is None or not access.can_see_cheque(user, cheque, journey):
        return None
    programme = queries.get_programme(session, user.programme_code)
    structure = (
        queries.get_mediation_structure(session, cheque.mediation_structure_id)
        if cheque.mediation_structure_id
        else None
    )
    return ChequeView(
        display=display,
        status_label=ChequeStatus(cheque.status).label,
        millesime=cheque.millesime,
        booklet_number=cheque.booklet_number,
        number=cheque.number,
        valid_until_day=last_valid_day(
            cheque.millesime, programme.grace_months if programme else 1
        ),
        redeemed_on=cheque.redeemed_on,
        structure=structure.name if structure else None,
        journey_id=journey.id,
        journey_stage=journey.stage,
    )


# ---- the journey page ----


@dataclass(frozen=True)
class JourneyView:
    row: models.Journey
    person: models.Beneficiary | None
    live: c.JourneyStatus | None  # None once the workflow is gone (anonymised)
    epci: str
    reception: str
    orientation_structure: str | None
    training_structure: str | None
    timeline: list[TimelineEntry]

    @property
    def stage(self) -> str:
        return self.live.stage if self.live else self.row.stage

    @property
    def outcome_label(self) -> str | None:
        outcome = self.live.outcome if self.live else self.row.outcome
        return Outcome(outcome).label if outcome else None

    @property
    def is_open(self) -> bool:
        return Stage(self.stage).is_open

    @property
    def stalled(self) -> bool:
        return self.live.stalled if self.live else self.row.stalled

    @property
    def stalled_reason(self) -> str | None:
        return self.live.stalled_reason if self.live else self.row.stalled_reason

    @property
    def stalled_since(self) -> datetime | None:
        return self.live.stalled_since if self.live else self.row.stalled_since

    @property
    def orientation_pending(self) -> bool:
        o = self.live.orientation if self.live else None
        return o is not None and o.status == "PENDING"

    @property
    def reorientable(self) -> bool:
        return self.stage in (Stage.BOOKLET_ISSUED, Stage.ORIENTED, Stage.IN_TRAINING)

    @property
    def booklet_number(self) -> int | None:
        return self.live.booklet_number if self.live else self.row.booklet_number

    @property
    def cheques_left(self) -> int:
        return self.live.cheques_left if self.live else 0

    @property
    def may_declare_lost(self) -> bool:
        return self.is_open and self.booklet_number is not None and self.cheques_left > 0


async def _journey_view(state: AppState, user: User, journey_id: str) -> JourneyView:
    service = JourneyService(state, user.programme_code)
    await service.check_visible(user, journey_id)
    try:
        live: c.JourneyStatus | None = await service.live_status(journey_id)
    except ApiError as err:
        if err.status != 409:  # 409: the workflow is finished; the records remain
            raise
        live = None

    def read(session: Session) -> JourneyView:
        row = queries.get_journey(session, journey_id)
        programme = queries.get_programme(session, user.programme_code)
        if row is None or programme is None or programme.id is None:
            raise not_found()
        names = coordination.reference_names(session, programme.id)
        log = queries.journey_timeline(session, journey_id)
        people = accounts.names_by_ref(session, {r.actor_ref for r in log})
        orientation_id = (
            live.orientation.mediation_structure_id if live and live.orientation else None
        )
        if live is None:
            orientation_id = row.orientation_structure_id
        training_id = live.mediation_structure_id if live else row.mediation_structure_id
        return JourneyView(
            row=row,
            person=queries.get_beneficiary(session, journey_id),
            live=live,
            epci=names.epci.get(row.epci_id, "?"),
            reception=names.reception.get(row.reception_structure_id, "?"),
            orientation_structure=names.mediation.get(orientation_id) if orientation_id else None,
            training_structure=names.mediation.get(training_id) if training_id else None,
            timeline=timeline_entries(log, people, names.mediation),
        )

    return await state.db.run(read)


@dataclass(frozen=True)
class SecondBooklet:
    """One booklet per person and millésime (records.duplicates): the coordinator's leave
    for this journey, or the other journeys that hold one (those in scope, by id)."""

    millesime: int
    allowed_at: datetime | None
    allowed_by: str | None
    held_in: list[str]
    held_elsewhere: int


async def _second_booklet(state: AppState, user: User, view: JourneyView) -> SecondBooklet | None:
    """What the page says of a second booklet: None when there is nothing to say."""
    choice = reads.millesimes_today(await _programme(state, user))
    millesime = view.row.millesime or choice.default or paris_today().year
    journey_id = view.row.id

    def read(session: Session) -> SecondBooklet | None:
        allowed = duplicates.second_booklet_allowance(session, journey_id)
        if allowed is not None:
            names = queries.account_names(session, [allowed.allowed_by])
            return SecondBooklet(
                millesime,
                allowed.allowed_at,
                names.get(allowed.allowed_by, "un compte supprimé"),
                [],
                0,
            )
        if view.stage not in (Stage.REFERRED, Stage.ASSESSED):
            return None
        held = duplicates.other_booklets(session, journey_id=journey_id, millesime=millesime)
        if not held:
            return None
        mine = [m.journey.id for m in held if access.can_see_journey(user, m.journey)]
        return SecondBooklet(millesime, None, None, mine, len(held) - len(mine))

    return await state.db.run(read)


async def _journey_page(
    request: Request,
    state: AppState,
    user: User,
    view: JourneyView,
    nudge: Form[Any],
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    mail = await letters.journey_mail(state, view.row.id)
    second = await _second_booklet(state, user, view)
    return render(
        request,
        "coordination/journey.html",
        {
            "j": view,
            "done": done,
            "nudge": nudge,
            "mail": mail,
            "second": second,
            "unlock_form_id": str(uuid.uuid4()),
        },
        status_code=status,
    )


@router.get("/parcours/{journey_id}")
async def journey_page(
    request: Request,
    state: State,
    user: CurrentUser,
    journey_id: JourneyIdPath,
    fait: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    _coordinator(user)
    view = await _journey_view(state, user, journey_id)
    nudge: Form[NudgeForm] = Form.blank(fresh_key())
    return await _journey_page(request, state, user, view, nudge, DONE_MESSAGES.get(fait or ""))


@router.post("/parcours/{journey_id}/second-carnet")
async def allow_second_booklet(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    """Allow this journey a second booklet of the millésime (recorded with who and when)."""
    _coordinator(user)
    try:
        await JourneyService(state, user.programme_code).allow_second_booklet(journey_id, user)
    except ApiError as err:
        if err.status != 409:
            raise
        view = await _journey_view(state, user, journey_id)
        nudge: Form[NudgeForm] = Form.blank(fresh_key())
        nudge.add_error("", err.message)
        return await _journey_page(request, state, user, view, nudge, status=409)
    return submit.see(_done(journey_id, "second-carnet"))


def _done(journey_id: str, what: str) -> str:
    return f"/coordination/parcours/{journey_id}?fait={what}"


async def _form(
    request: Request, state: AppState, user: User, journey_id: str, change: Change, model: type[F]
) -> Form[F]:
    """A coordinator's form for `change`, read once they may make it (403/404 otherwise)."""
    _coordinator(user)
    await submit.require_change(state, user, journey_id, change)
    return await read_form(request, model)


@router.post("/parcours/{journey_id}/debloquer")
async def unlock_booklet(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    """Unlock a booklet locked after too many wrong security codes."""
    form = await _form(request, state, user, journey_id, Change.UNLOCK_BOOKLET, UnlockForm)
    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_UNLOCK_BOOKLET,
        request=lambda _: c.UnlockBookletRequest(actor=user.actor),
        change=Change.UNLOCK_BOOKLET,
        done=_done(journey_id, "deblocage"),
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await _journey_view(state, user, journey_id)
    summary: Form[NudgeForm] = Form.blank(fresh_key())
    summary.add_error("", form.errors.get("") or "Le carnet n'a pas pu être débloqué.")
    return await _journey_page(request, state, user, view, summary, status=sent)


@router.post("/parcours/{journey_id}/relance")
async def nudge(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    form = await _form(request, state, user, journey_id, Change.NUDGE, NudgeForm)
    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_NUDGE,
        request=lambda data: c.NudgeRequest(actor=user.actor, message=data.message),
        change=Change.NUDGE,
        done=_done(journey_id, "relance"),
        field=lambda err: "message" if err.status == 422 else "",
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await _journey_view(state, user, journey_id)
    return await _journey_page(request, state, user, view, form, status=sent)


# ---- re-orient ----


async def _suggestions(
    state: AppState, user: User, view: JourneyView
) -> list[queries.MediationSuggestion]:
    row = view.row

    def read(session: Session) -> list[queries.MediationSuggestion]:
        entry = queries.journey_assessment(session, row.id, "ENTRY")
        return queries.suggest_mediation_structures(
            session,
            programme_code=user.programme_code,
            epci_id=row.epci_id,
            needs=list(entry.needs) if entry else [],
            on=paris_today(),
        )

    return await state.db.run(read)


def _current_structure(view: JourneyView) -> int | None:
    live = view.live
    if live is None:
        return None
    if live.orientation is not None and live.orientation.status == "PENDING":
        return live.orientation.mediation_structure_id
    return live.mediation_structure_id


async def _reorient_page(
    request: Request, state: State, user: User, view: JourneyView, form: Form[Any], status: int
) -> HTMLResponse:
    current = _current_structure(view)
    options = [s for s in await _suggestions(state, user, view) if s.structure.id != current]
    return render(
        request,
        "coordination/reorient.html",
        {"j": view, "form": form, "options": options, "current": current},
        status_code=status,
    )


@router.get("/parcours/{journey_id}/reorienter")
async def reorient_form(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    _coordinator(user)
    view = await _journey_view(state, user, journey_id)
    form: Form[ReorientForm] = Form.blank(fresh_key())
    return await _reorient_page(request, state, user, view, form, 200)


@router.post("/parcours/{journey_id}/reorienter")
async def reorient(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    form = await _form(request, state, user, journey_id, Change.REORIENT, ReorientForm)

    async def qualified(data: ReorientForm) -> None:
        structure = await JourneyService(state, user.programme_code).check_mediation_structure(
            data.mediation_structure_id
        )
        if not structure.is_qualified_on(paris_today()):
            raise ApiError(422, "unknown_structure", NOT_QUALIFIED)

    def on_structure(err: ApiError) -> str:
        chosen = err.code == "unknown_structure" or "structure" in err.message
        return "mediation_structure_id" if chosen else ""

    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_REORIENT,
        request=lambda data: c.OrientRequest(
            actor=user.actor, mediation_structure_id=data.mediation_structure_id, reason=data.reason
        ),
        change=Change.REORIENT,
        done=_done(journey_id, "reorientation"),
        check=qualified,
        field=on_structure,
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await _journey_view(state, user, journey_id)
    return await _reorient_page(request, state, user, view, form, sent)


# ---- a booklet lost, stolen or damaged ----


def _lost_page(
    request: Request, view: JourneyView, form: Form[submit.LostBookletForm], status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "coordination/lost.html",
        {"j": view, "form": form, "reasons": submit.LOST_BOOKLET_REASONS},
        status_code=status,
    )


@router.get("/parcours/{journey_id}/carnet-perdu")
async def lost_booklet_form(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    _coordinator(user)
    view = await _journey_view(state, user, journey_id)
    initial = fresh_key() | {
        "booklet_number": str(view.booklet_number or ""),
        "lost_on": paris_today().strftime("%d/%m/%Y"),
    }
    return _lost_page(request, view, Form.blank(initial))


@router.post("/parcours/{journey_id}/carnet-perdu")
async def lost_booklet(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    form = await _form(
        request, state, user, journey_id, Change.DECLARE_BOOKLET_LOST, submit.LostBookletForm
    )
    sent = await submit.declare_booklet_lost(
        state, user, journey_id, form, done=_done(journey_id, "carnet-perdu")
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await _journey_view(state, user, journey_id)
    return _lost_page(request, view, form, sent)


# ---- withdraw ----


@router.get("/parcours/{journey_id}/sortie")
async def withdraw_form(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> HTMLResponse:
    _coordinator(user)
    view = await _journey_view(state, user, journey_id)
    form: Form[WithdrawForm] = Form.blank(fresh_key())
    return render(request, "coordination/withdraw.html", {"j": view, "form": form})


@router.post("/parcours/{journey_id}/sortie")
async def withdraw(
    request: Request, state: State, user: CurrentUser, journey_id: JourneyIdPath
) -> Response:
    form = await _form(request, state, user, journey_id, Change.WITHDRAW, WithdrawForm)
    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_WITHDRAW,
        request=lambda data: c.WithdrawRequest(actor=user.actor, reason=data.reason),
        change=Change.WITHDRAW,
        done=_done(journey_id, "sortie"),
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await _journey_view(state, user, journey_id)
    return render(
        request, "coordination/withdraw.html", {"j": view, "form": form}, status_code=sent
    )
