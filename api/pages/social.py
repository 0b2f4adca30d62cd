"""Social workers' space (/accompagnement): their structure's referrals, and every step a
social worker takes: refer a person, assess their needs, hand over the booklet (with its
printable slip), choose a mediation structure; and the journey page with its timeline.

Each POST carries a form UUID (`form_id`, generated when the form is rendered) that is the
idempotency key of the workflow Update: a double submit changes nothing, and a success
redirects (303) to the next page. Withdrawal is a coordinator's change (api/access.py
`ROLES_BY_CHANGE`): the journey page points the social worker to the coordination instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ConfigDict, Field, field_validator
from sqlmodel import Session

from api import access, schemas
from api import programme_reads as reads
from api.access import Change
from api.auth import CurrentUser, User
from api.barcodes import code128_svg
from api.constraints import LINE, Id, JourneyIdPath
from api.deps import AppState, State
from api.errors import ApiError, not_found
from api.forms import Form, KeyedForm, fresh_key, read_form
from api.journey_service import JourneyService
from api.pages import describe_scope, letters, shown_serial, submit
from api.web import render, structure_ids_of, timeline_notes
from domain import contracts as c
from domain.needs import (
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.refusals import ChequeRefusal
from domain.rights import INITIAL_CONSENT_TEXT
from domain.security_codes import display_code, scan_text
from domain.serials import parse_serial
from domain.stages import (
    Action,
    ChequeStatus,
    DeclineReason,
    OrientationStatus,
    Role,
    Stage,
)
from domain.validity import last_day_before, last_valid_day, paris_today, valid_from
from records import booklet_stock, consent, duplicates, models, queries
from records import policy as stored_policy
from records.cheque_codes import CodeVault

router = APIRouter(prefix="/accompagnement", include_in_schema=False)

SPACE = "/accompagnement"
K = TypeVar("K", bound=KeyedForm)

# The consent wording's first version (records.consent: administrators publish the next
# ones; the referral page shows the one in force and the referral pins it).
CONSENT_TEXT = INITIAL_CONSENT_TEXT

# "Courriel" and "Courrier" differ by one letter: the form spells out which is which.
_CHANNEL_WORDS = {models.Channel.EMAIL: "Courriel (e-mail)", models.Channel.POST: "Courrier postal"}
CHANNEL_OPTIONS = [(ch.value, _CHANNEL_WORDS.get(ch, ch.label)) for ch in models.Channel]
TOOL_OPTIONS = AssessmentTool.options()
AUTONOMY_OPTIONS = AutonomyLevel.options()
THEME_OPTIONS = Theme.options()
MAX_LIST = 200
NOT_QUALIFIED_TODAY = (
    "Cette structure n'est pas habilitée APTIC aujourd'hui : choisissez-en une autre."
)


def _journey_path(journey_id: str, step: str = "") -> str:
    return f"{SPACE}/parcours/{journey_id}" + (f"/{step}" if step else "")


# ---- forms ----


class PersonForm(schemas.PersonIn):
    @field_validator("birth_year")
    @classmethod
    def _not_future(cls, value: int | None) -> int | None:
        if value is not None and value > paris_today().year:
            raise ValueError("L'année de naissance ne peut pas être dans le futur.")
        return value


class ReferralForm(KeyedForm):
    model_config = ConfigDict(str_strip_whitespace=True)

    person: PersonForm
    consent: bool = False
    consent_version: int | None = Field(default=None, ge=1, le=2**31 - 1)  # the one shown
    confirm_possible_duplicate: bool = False

    @field_validator("consent")
    @classmethod
    def _given(cls, value: bool) -> bool:
        if not value:
            raise ValueError("Le consentement de la personne est obligatoire pour l'orienter.")
        return value


class AssessmentForm(submit.AssessmentFields):
    needs: list[Theme] = []

    @field_validator("needs")
    @classmethod
    def _some(cls, value: list[Theme]) -> list[Theme]:
        if not value:
            raise ValueError("Choisissez au moins un besoin.")
        return list(dict.fromkeys(value))


class BookletForm(KeyedForm):
    millesime: int | None = Field(default=None, ge=2000, le=2100)


class OrientForm(KeyedForm):
    mediation_structure_id: Id


async def _read(request: Request, user: User, model: type[K]) -> Form[K]:
    """A social worker's form, its errors placed where they can act on them."""
    access.require_role(user, Role.SOCIAL_WORKER)
    form = await read_form(request, model)
    _place_errors(form)
    return form


def _place_errors(form: Form[Any]) -> None:
    """Put errors that have no field of their own where the user can act on them."""
    moves = {
        "person": "person.preferred_channel",  # contact needed by the chosen channel
        "form_id": "",  # a tampered or very old form
    }
    for src, dst in moves.items():
        if src in form.errors:
            message = form.errors.pop(src)
            if src == "form_id":
                message = "Ce formulaire a expiré : rechargez la page et recommencez."
            form.add_error(dst, message)


# ---- reads ----


@dataclass(frozen=True)
class Row:
    journey: models.Journey
    person: models.Beneficiary | None


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    label: str
    who: str
    to_stage: str
    why: list[str]


@dataclass(frozen=True)
class ChequeItem:
    display: str
    status: ChequeStatus
    redeemed_on: date | None
    structure: str | None


@dataclass(frozen=True)
class JourneyView:
    journey: models.Journey
    person: models.Beneficiary | None
    programme: models.Programme
    assessment: models.Assessment | None
    timeline: list[TimelineItem]
    cheques: list[ChequeItem]
    sessions: list[models.TrainingSession]
    orientations: list[tuple[models.Orientation, str]]
    structure_names: dict[int, str]
    # The slip must be printed (again) and handed over: a booklet issued before security
    # codes existed, or the replacement of a booklet declared lost.
    slip_to_reprint: bool = False
    booklets: list[models.BookletAllocation] = field(default_factory=list)  # the first first

    @property
    def stage(self) -> Stage:
        return Stage(self.journey.stage)

    @property
    def name(self) -> str:
        return person_name(self.person)

    @property
    def lost_booklets(self) -> list[models.BookletAllocation]:
        return [b for b in self.booklets if b.lost_at is not None]

    @property
    def replaces(self) -> models.BookletAllocation | None:
        """The booklet declared lost that the one held now replaces, if any."""
        current = self.booklets[-1] if self.booklets else None
        if current is None or current.replaces_booklet_number is None:
            return None
        return next(
            (b for b in self.booklets if b.booklet_number == current.replaces_booklet_number),
            None,
        )

    @property
    def booklet_handed_at(self) -> datetime | None:
        """When the booklet held now was handed over (a replacement: when the loss was
        declared)."""
        replaced = self.replaces
        return replaced.lost_at if replaced else self.journey.booklet_issued_at

    @property
    def cheques_left(self) -> int:
        return sum(1 for x in self.cheques if x.status == ChequeStatus.ISSUED)

    @property
    def may_declare_lost(self) -> bool:
        return (
            self.stage.is_open and self.journey.booklet_number is not None and self.cheques_left > 0
        )

    @property
    def valid_to(self) -> date | None:
        """The last day its cheques may be spent."""
        until = self.journey.valid_until
        return last_day_before(until) if until else None


@dataclass(frozen=True)
class SlipCheque:
    """One line of the printed slip."""

    display: str
    code: str | None
    barcode: Markup | None
    status: ChequeStatus


def slip_cheque(
    vault: CodeVault, serial: str, sealed: str | None, status: ChequeStatus
) -> SlipCheque:
    try:
        code = vault.reveal(serial, sealed) if sealed else None
    except ValueError:  # sealed with a key this instance no longer has
        code = None
    usable = status == ChequeStatus.ISSUED
    return SlipCheque(
        display=shown_serial(serial),
        code=display_code(code) if code else None,
        barcode=code128_svg(
            scan_text(serial, code), label=f"du chèque n° {parse_serial(serial).cheque_number}"
        )
        if code and usable
        else None,
        status=status,
    )


def person_name(person: models.Beneficiary | None) -> str:
    if person is None or not (person.first_name or person.last_name):
        return "Personne anonymisée"
    return f"{person.first_name or ''} {person.last_name or ''}".strip()


def _who(role: str, ref: str, names: dict[int, str]) -> str:
    if role == Role.SYSTEM:
        return "passnum (automatique)"
    name = names.get(int(ref)) if ref.isdigit() else None
    label = Role(role).label if role in Role.__members__ else role
    return f"{name} ({label})" if name else label


def _why(entry: queries.TimelineRow, structures: dict[int, str]) -> list[str]:
    lines: list[str] = []
    detail = entry.detail or {}
    if entry.reason:
        lines.append(entry.reason)
    structure = detail.get("mediation_structure_id")
    if structure and structure.isdigit():
        lines.append(f"Structure : {structures.get(int(structure), 'inconnue')}")
    reason = detail.get("decline_reason") or ""
    if reason in DeclineReason.__members__ and DeclineReason(reason).label not in lines:
        lines.append(f"Motif : {DeclineReason(reason).label}")
    if entry.action == Action.ASSESSED and detail.get("autonomy") in AutonomyLevel.__members__:
        lines.append(f"Autonomie : {AutonomyLevel(detail['autonomy']).label}")
    lines.extend(timeline_notes(entry.action, detail, structures))
    if entry.action == Action.BOOKLET_ISSUED and detail.get("booklet_number"):
        lines.append(
            f"Carnet n° {detail['booklet_number']} (millésime {detail.get('millesime', '')})"
        )
    return lines


def _read_journey(session: Session, state: AppState, user: User, journey_id: str) -> JourneyView:
    """Everything the journey page shows, in one unit of work; 404 outside the user's scope."""
    journey = queries.get_journey(session, journey_id)
    if journey is None or journey.programme_code != user.programme_code:
        raise not_found()
    access.require_visible(user, journey)
    programme = queries.get_programme(session, journey.programme_code)
    if programme is None:
        raise not_found("Programme")
    log = queries.journey_timeline(session, journey_id)
    cheques = queries.journey_cheques(session, journey_id)
    sessions = queries.journey_sessions(session, journey_id)
    orientations = queries.journey_orientations(session, journey_id)
    structure_ids = {i for e in log for i in structure_ids_of(e.detail)}
    structure_ids |= {x.mediation_structure_id for x in cheques if x.mediation_structure_id}
    structure_ids |= {x.mediation_structure_id for x in sessions}
    structure_ids |= {x.mediation_structure_id for x in orientations}
    structures = queries.mediation_structure_names(session, sorted(structure_ids))
    names = queries.account_names(
        session, sorted({int(e.actor_ref) for e in log if e.actor_ref.isdigit()})
    )
    booklets = queries.booklet_allocations(session, journey_id)
    return JourneyView(
        journey=journey,
        person=queries.get_beneficiary(session, journey_id),
        programme=programme,
        assessment=queries.journey_assessment(session, journey_id, AssessmentKind.ENTRY.value),
        timeline=[
            TimelineItem(
                at=e.at,
                label=Action(e.action).label if e.action in Action.__members__ else e.action,
                who=_who(e.actor_role, e.actor_ref, names),
                to_stage=e.to_stage,
                why=_why(e, structures),
            )
            for e in log
        ],
        cheques=[
            ChequeItem(
                display=shown_serial(x.serial),
                status=ChequeStatus(x.status),
                redeemed_on=x.redeemed_on,
                structure=structures.get(x.mediation_structure_id)
                if x.mediation_structure_id
                else None,
            )
            for x in cheques
        ],
        sessions=sessions,
        orientations=[
            (o, structures.get(o.mediation_structure_id, "inconnue")) for o in orientations
        ],
        structure_names=structures,
        slip_to_reprint=bool(booklets and booklets[-1].slip_to_reprint_since),
        booklets=booklets,
    )


async def journey_view(state: AppState, user: User, journey_id: str) -> JourneyView:
    access.require_role(user, Role.SOCIAL_WORKER)
    return await state.db.run(lambda s: _read_journey(s, state, user, journey_id))


def _page(view: JourneyView, **extra: Any) -> dict[str, Any]:
    return {
        "view": view,
        "journey": view.journey,
        "name": view.name,
        "labels": LABELS,
        **extra,
    }


# Labels the templates need (StrictUndefined: everything is passed).
LABELS: dict[str, Any] = {
    "stages": Stage.table(),
    "tools": dict(TOOL_OPTIONS),
    "autonomy": dict(AUTONOMY_OPTIONS),
    "themes": dict(THEME_OPTIONS),
    "channels": dict(CHANNEL_OPTIONS),
    "orientation": OrientationStatus.table(),
    "cheque": ChequeStatus.table(),
    "session_kind": SessionKind.table(),
    "place": SessionPlace.table(),
}

# ---- my referrals ----


@router.get("")
async def space(
    request: Request,
    state: State,
    user: CurrentUser,
    etape: Annotated[Stage | None, Query()] = None,
    nom: Annotated[str, Query(max_length=100, pattern=LINE)] = "",
) -> HTMLResponse:
    """My structure's referrals: stalled ones first, then by stage; or those whose person's
    name contains `nom`."""
    access.require_role(user, Role.SOCIAL_WORKER)
    scope = access.journey_scope(user)
    code = user.programme_code

    def read(session: Session) -> tuple[list[Row], int, dict[str, int]]:
        if nom.strip():
            journeys, total = queries.journeys_by_person_name(
                session, programme_code=code, text=nom, scope=scope, limit=MAX_LIST
            )
        else:
            journeys, total = queries.list_journeys(
                session, programme_code=code, stage=etape, scope=scope, limit=MAX_LIST
            )
        people = queries.beneficiaries_for(session, [j.id for j in journeys])
        counts = queries.journey_stage_counts(session, programme_code=code, scope=scope)
        return [Row(j, people.get(j.id)) for j in journeys], total, counts

    rows, total, counts = await state.db.run(read)
    stalled = [r for r in rows if r.journey.stalled]
    by_stage = [
        (s, [r for r in rows if not r.journey.stalled and r.journey.stage == s.value])
        for s in Stage
    ]
    return render(
        request,
        "social/home.html",
        {
            "scope_label": await describe_scope(state, user),
            "stalled": stalled,
            "by_stage": [(s, rs) for s, rs in by_stage if rs],
            "shown": len(rows),
            "total": total,
            "counts": [(s, counts.get(s.value, 0)) for s in Stage],
            "all_count": sum(counts.values()),
            "current": None if nom.strip() else etape,
            "search": nom.strip(),
            "labels": LABELS,
            "person_name": person_name,
        },
    )


# ---- refer a person ----


DUPLICATE_TO_CONFIRM = (
    "Cette personne a peut-être déjà un parcours : ouvrez-le, ou confirmez qu'il s'agit "
    "d'une nouvelle orientation."
)


@dataclass(frozen=True)
class DuplicateView:
    """A referral refused as a possible duplicate (records.duplicates): the matching
    journeys of the social worker's structure, how many others (nothing else of them)."""

    mine: list[Row]
    others: int
    criteria: list[str]


async def _duplicate_view(state: AppState, user: User, exc: ApiError) -> DuplicateView:
    details = exc.details if isinstance(exc.details, dict) else {}
    ids = [str(x) for x in details.get("journey_ids", [])]
    criteria = [
        duplicates.Criterion(x).label
        for x in details.get("criteria", [])
        if x in duplicates.Criterion.__members__
    ]

    def read(session: Session) -> list[Row]:
        people = queries.beneficiaries_for(session, ids)
        rows = [queries.get_journey(session, x) for x in ids]
        return [
            Row(j, people.get(j.id))
            for j in rows
            if j is not None and access.can_see_journey(user, j)
        ]

    mine = await state.db.run(read)
    others = int(details.get("other_journeys", 0)) + len(ids) - len(mine)
    return DuplicateView(mine=mine, others=others, criteria=criteria)


async def _refer_page(
    request: Request,
    state: AppState,
    form: Form[ReferralForm],
    status: int = 200,
    duplicate: DuplicateView | None = None,
) -> HTMLResponse:
    in_force = await state.db.run(consent.current)
    return render(
        request,
        "social/refer.html",
        {
            "form": form,
            "consent_text": in_force.wording,
            "consent_version": in_force.version,
            "channels": CHANNEL_OPTIONS,
            "duplicate": duplicate,
            "labels": LABELS,
            "person_name": person_name,
        },
        status_code=status,
    )


@router.get("/orienter")
async def refer_page(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    access.require_role(user, Role.SOCIAL_WORKER)
    blank: Form[ReferralForm] = Form.blank({**fresh_key(), "person.preferred_channel": "POST"})
    return await _refer_page(request, state, blank)


@router.post("/orienter")
async def refer_submit(request: Request, state: State, user: CurrentUser) -> Response:
    form = await _read(request, user, ReferralForm)
    if not form.ok:
        return await _refer_page(request, state, form, 422)
    data = form.data
    if user.reception_structure_id is None:
        raise access.forbidden("Votre compte n'est rattaché à aucune structure d'accueil.")
    try:
        status = await JourneyService(state, user.programme_code).refer(
            idempotency_key=str(data.form_id),
            reception_structure_id=user.reception_structure_id,
            user=user,
            person=data.person.model_dump(),
            consent_text=None,  # the wording of the version shown
            consent_version=data.consent_version,
            confirm_possible_duplicate=data.confirm_possible_duplicate,
        )
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        if exc.code == "possible_duplicate":  # shown with its journeys, to confirm
            duplicate = await _duplicate_view(state, user, exc)
            form.add_error("confirm_possible_duplicate", DUPLICATE_TO_CONFIRM)
            return await _refer_page(request, state, form, exc.status, duplicate)
        form.refuse(exc, "consent" if exc.code == "consent_version_outdated" else "")
        return await _refer_page(request, state, form, exc.status)
    return submit.see(_journey_path(status.journey_id, "diagnostic"))


# ---- journey page ----


@router.get("/parcours/{journey_id}")
async def journey_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    view = await journey_view(state, user, journey_id)
    mail = await letters.journey_mail(state, journey_id)
    return render(request, "social/journey.html", _page(view, mail=mail))


# ---- needs assessment ----


def _assess_page(
    request: Request, view: JourneyView, form: Form[AssessmentForm], status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "social/assess.html",
        _page(
            view,
            form=form,
            tools=TOOL_OPTIONS,
            autonomy=AUTONOMY_OPTIONS,
            themes=THEME_OPTIONS,
        ),
        status_code=status,
    )


@router.get("/parcours/{journey_id}/diagnostic")
async def assess_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    view = await journey_view(state, user, journey_id)
    initial: dict[str, str | list[str]] = fresh_key()
    if view.assessment is not None:  # a correction starts from what was recorded
        initial |= {
            "tool": view.assessment.tool,
            "autonomy": view.assessment.autonomy,
            "needs": list(view.assessment.needs),
        }
    return _assess_page(request, view, Form.blank(initial))


@router.post("/parcours/{journey_id}/diagnostic")
async def assess_submit(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> Response:
    form = await _read(request, user, AssessmentForm)
    sent = await submit.assess(
        state,
        user,
        journey_id,
        form,
        kind=AssessmentKind.ENTRY,
        needs=lambda data: data.needs,
        done=_journey_path(journey_id, "carnet"),
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await journey_view(state, user, journey_id)
    return _assess_page(request, view, form, sent)


# ---- booklet ----


@dataclass(frozen=True)
class BookletOffer:
    """What the booklet page offers today: each millésime with its last valid day and, for
    a stock-managed one, the booklets left in the structure's stock; or why none."""

    millesimes: list[tuple[int, date, int | None]]
    closed: str | None  # the programme is not running: why


def _booklet_offer(session: Session, state: AppState, view: JourneyView) -> BookletOffer:
    programme = view.programme
    try:
        reads.require_running(programme)
    except ApiError as err:
        return BookletOffer([], err.message)
    row = view.journey
    offered = []
    for millesime in reads.millesimes_today(programme).offered:
        left = (
            booklet_stock.left_in_stock(
                session, programme.code, millesime, row.reception_structure_id
            )
            if booklet_stock.is_managed(session, programme.code, millesime)
            else None
        )
        offered.append((millesime, last_valid_day(millesime, programme.grace_months), left))
    return BookletOffer(offered, None)


async def _booklet_page(
    request: Request,
    state: AppState,
    view: JourneyView,
    form: Form[BookletForm],
    status: int = 200,
) -> HTMLResponse:
    p = view.programme
    offer, count = await state.db.run(
        lambda s: (
            _booklet_offer(s, state, view),
            stored_policy.cheques_per_booklet(s, view.journey.id, p),
        )
    )
    if offer.millesimes and not form.value("millesime"):
        form.values["millesime"] = str(offer.millesimes[0][0])  # the default, checked
    return render(
        request,
        "social/booklet.html",
        _page(
            view,
            form=form,
            offer=offer,
            count=count,
            value=p.cheque_value_cents,
            total=p.cheque_value_cents * count,
        ),
        status_code=status,
    )


@router.get("/parcours/{journey_id}/carnet")
async def booklet_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    view = await journey_view(state, user, journey_id)
    return await _booklet_page(request, state, view, Form.blank(fresh_key()))


@router.post("/parcours/{journey_id}/carnet")
async def booklet_submit(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> Response:
    form = await _read(request, user, BookletForm)
    chosen: list[int] = []

    async def choose(data: BookletForm) -> None:
        chosen.append(
            await JourneyService(state, user.programme_code).booklet_millesime(data.millesime)
        )

    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_ISSUE_BOOKLET,
        request=lambda _: c.BookletRequest(actor=user.actor, millesime=chosen[0]),
        change=Change.ISSUE_BOOKLET,
        done=_journey_path(journey_id, "bordereau"),
        check=choose,
        field="millesime",
        shown=submit.not_out_of_scope,
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await journey_view(state, user, journey_id)
    return await _booklet_page(request, state, view, form, sent)


@router.get("/parcours/{journey_id}/bordereau")
async def slip_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    """The printable slip handed over with the booklet: each cheque's serial, its security
    code and their barcode. Showing it settles a reprint owed since codes were added."""
    view = await journey_view(state, user, journey_id)
    j = view.journey
    vault = state.settings.code_vault
    reprinted = view.slip_to_reprint

    def read(session: Session) -> list[SlipCheque]:
        if reprinted:
            allocation = queries.booklet_allocation(session, journey_id)
            if allocation is not None:
                allocation.slip_to_reprint_since = None
        return [  # the booklet held now (a lost one's cheques are no longer the person's)
            slip_cheque(vault, x.serial, x.security_code, ChequeStatus(x.status))
            for x in queries.journey_cheques(session, journey_id)
            if x.booklet_number == j.booklet_number
        ]

    cheques = await state.db.run(read, write=reprinted)
    return render(
        request,
        "social/slip.html",
        _page(
            view,
            slip=cheques,
            reprinted=reprinted,
            valid_from=valid_from(j.millesime) if j.millesime else None,
            valid_to=view.valid_to,
            value=view.programme.cheque_value_cents,
        ),
    )


# ---- orientation to a mediation structure ----


async def _orient_page(
    request: Request,
    state: AppState,
    view: JourneyView,
    form: Form[OrientForm],
    status: int = 200,
) -> HTMLResponse:
    j = view.journey
    needs = list(view.assessment.needs) if view.assessment else []

    def read(session: Session) -> tuple[list[queries.MediationSuggestion], str]:
        found = queries.suggest_mediation_structures(
            session,
            programme_code=j.programme_code,
            epci_id=j.epci_id,
            needs=needs,
            on=paris_today(),
        )
        epci = session.get(models.Epci, j.epci_id)
        return found, epci.name if epci else "votre intercommunalité"

    suggestions, epci_name = await state.db.run(read)
    return render(
        request,
        "social/orient.html",
        _page(
            view,
            form=form,
            near=[x for x in suggestions if x.serves_epci],
            far=[x for x in suggestions if not x.serves_epci],
            needs=needs,
            epci_name=epci_name,
        ),
        status_code=status,
    )


@router.get("/parcours/{journey_id}/mediation")
async def orient_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    view = await journey_view(state, user, journey_id)
    return await _orient_page(request, state, view, Form.blank(fresh_key()))


@router.post("/parcours/{journey_id}/mediation")
async def orient_submit(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> Response:
    form = await _read(request, user, OrientForm)
    if "mediation_structure_id" in form.errors:
        form.errors["mediation_structure_id"] = "Choisissez une structure de médiation."
    if form.ok:
        # Authorise before looking at the structure: nothing is said outside one's scope.
        await submit.require_change(state, user, journey_id, Change.ORIENT)

    async def qualified(data: OrientForm) -> None:
        try:
            await JourneyService(state, user.programme_code).check_mediation_structure(
                data.mediation_structure_id, on=paris_today()
            )
        except ApiError as exc:
            if exc.code == ChequeRefusal.STRUCTURE_NOT_QUALIFIED.value:  # worded for sessions
                raise ApiError(422, exc.code, NOT_QUALIFIED_TODAY) from exc
            raise

    sent = await submit.send(
        state,
        user,
        journey_id,
        form,
        name=c.U_ORIENT,
        request=lambda data: c.OrientRequest(
            actor=user.actor, mediation_structure_id=data.mediation_structure_id
        ),
        change=Change.ORIENT,
        done=_journey_path(journey_id),
        check=qualified,
        field=lambda exc: "mediation_structure_id" if exc.status == 422 else "",
        shown=submit.not_out_of_scope,
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await journey_view(state, user, journey_id)
    return await _orient_page(request, state, view, form, sent)


# ---- a booklet lost, stolen or damaged ----


def _lost_page(
    request: Request, view: JourneyView, form: Form[submit.LostBookletForm], status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "social/lost.html",
        _page(view, form=form, reasons=submit.LOST_BOOKLET_REASONS),
        status_code=status,
    )


@router.get("/parcours/{journey_id}/carnet-perdu")
async def lost_booklet_page(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> HTMLResponse:
    view = await journey_view(state, user, journey_id)
    initial = fresh_key() | {
        "booklet_number": str(view.journey.booklet_number or ""),
        "lost_on": paris_today().strftime("%d/%m/%Y"),
    }
    return _lost_page(request, view, Form.blank(initial))


@router.post("/parcours/{journey_id}/carnet-perdu")
async def lost_booklet_submit(
    request: Request, journey_id: JourneyIdPath, state: State, user: CurrentUser
) -> Response:
    """Declare the booklet lost: its replacement's slip is the next page, to print."""
    form = await _read(request, user, submit.LostBookletForm)
    sent = await submit.declare_booklet_lost(
        state, user, journey_id, form, done=_journey_path(journey_id, "bordereau")
    )
    if isinstance(sent, RedirectResponse):
        return sent
    view = await journey_view(state, user, journey_id)
    return _lost_page(request, view, form, sent)
