"""Read functions the API uses, and the one write it does itself (registering a person).

Every function takes a session; writers only flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, func, or_, true
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from domain import clock
from domain.stages import OPEN_STAGES
from records import free_texts
from records.models import (
    Account,
    Assessment,
    Beneficiary,
    BookletAllocation,
    Channel,
    Cheque,
    Journey,
    MediationStructure,
    MediationStructureEpci,
    Orientation,
    Programme,
    ReceptionStructure,
    TrainingSession,
    TransitionLog,
)

MAX_PAGE = 200

_PENDING = "PENDING"  # domain.stages.OrientationStatus.PENDING


@dataclass(frozen=True)
class JourneyScope:
    """Which journeys someone may see, as data: the API's access helper builds one per
    account (api/access.py) and the lists filter with it in SQL. Fields combine with OR;
    no field at all is nothing, `everything` the whole programme."""

    everything: bool = False
    reception_structure_id: int | None = None  # referred by this structure
    mediation_structure_id: int | None = None  # trained there, or oriented there and pending
    epci_id: int | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.reception_structure_id is not None:
            parts.append(col(Journey.reception_structure_id) == self.reception_structure_id)
        if self.mediation_structure_id is not None:
            parts.append(col(Journey.mediation_structure_id) == self.mediation_structure_id)
            parts.append(
                and_(
                    col(Journey.orientation_structure_id) == self.mediation_structure_id,
                    col(Journey.orientation_status) == _PENDING,
                )
            )
        if self.epci_id is not None:
            parts.append(col(Journey.epci_id) == self.epci_id)
        return or_(*parts) if parts else false()

    def contains(self, journey: Journey | JourneyAccess) -> bool:
        """The same rule as `condition`, for one journey already read."""
        if self.everything:
            return True
        m = self.mediation_structure_id
        return (
            (
                self.reception_structure_id is not None
                and journey.reception_structure_id == self.reception_structure_id
            )
            or (m is not None and journey.mediation_structure_id == m)
            or (
                m is not None
                and journey.orientation_structure_id == m
                and journey.orientation_status == _PENDING
            )
            or (self.epci_id is not None and journey.epci_id == self.epci_id)
        )


@dataclass(frozen=True)
class JourneyAccess:
    """What access decisions need of a journey (a light read)."""

    id: str
    programme_code: int
    epci_id: int
    reception_structure_id: int
    mediation_structure_id: int | None
    orientation_structure_id: int | None
    orientation_status: str | None
    stage: str


# The columns of a JourneyAccess, in its order (records.duplicates reads them too).
ACCESS_COLUMNS: tuple[Any, ...] = (
    Journey.id,
    Journey.programme_code,
    Journey.epci_id,
    Journey.reception_structure_id,
    Journey.mediation_structure_id,
    Journey.orientation_structure_id,
    Journey.orientation_status,
    Journey.stage,
)


def journey_access(session: Session, journey_id: str) -> JourneyAccess | None:
    row = session.execute(sa_select(*ACCESS_COLUMNS).where(col(Journey.id) == journey_id)).first()
    return None if row is None else JourneyAccess(*row)


def get_programme(session: Session, code: int) -> Programme | None:
    return session.exec(select(Programme).where(Programme.code == code)).first()


def list_journeys(
    session: Session,
    *,
    programme_code: int,
    stage: str | None = None,
    stalled: bool | None = None,
    epci_id: int | None = None,
    mediation_structure_id: int | None = None,
    reception_structure_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    scope: JourneyScope | None = None,
) -> tuple[list[Journey], int]:
    """One page of journeys (stalled first, then most recent activity) and the total count.

    `scope` (None: no restriction) is the caller's visibility, ANDed with the filters."""
    conditions: list[Any] = [Journey.programme_code == programme_code]
    if scope is not None and not scope.everything:
        conditions.append(scope.condition())
    if stage is not None:
        conditions.append(Journey.stage == stage)
    if stalled is not None:
        conditions.append(Journey.stalled == stalled)
    if epci_id is not None:
        conditions.append(Journey.epci_id == epci_id)
    if mediation_structure_id is not None:
        conditions.append(Journey.mediation_structure_id == mediation_structure_id)
    if reception_structure_id is not None:
        conditions.append(Journey.reception_structure_id == reception_structure_id)

    total = session.exec(select(func.count()).select_from(Journey).where(*conditions)).one()
    rows = session.exec(
        select(Journey)
        .where(*conditions)
        .order_by(
            col(Journey.stalled).desc(),
            # NULLs last on both databases (PostgreSQL puts them first when descending).
            col(Journey.last_activity_at).is_(None),
            col(Journey.last_activity_at).desc(),
            col(Journey.id),
        )
        .limit(max(0, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    ).all()
    return list(rows), int(total)


def get_journey(session: Session, journey_id: str) -> Journey | None:
    return session.get(Journey, journey_id)


_J = TypeVar("_J", TransitionLog, Cheque, TrainingSession, Orientation)


def _of_journey(session: Session, model: type[_J], journey_id: str, *order: Any) -> list[_J]:
    """Every row of `model` of a journey, in `order`."""
    return list(
        session.exec(select(model).where(model.journey_id == journey_id).order_by(*order)).all()
    )


@dataclass(frozen=True)
class TimelineRow:
    """A transition log row as the timelines show it: `reason` is the text typed with the
    change (records.free_texts) while it is held, else the row's own wording."""

    seq: int
    at: datetime
    actor_role: str
    actor_ref: str
    action: str
    from_stage: str | None
    to_stage: str
    reason: str | None
    detail: dict[str, str]


def journey_timeline(session: Session, journey_id: str) -> list[TimelineRow]:
    rows = _of_journey(session, TransitionLog, journey_id, col(TransitionLog.seq))
    typed = free_texts.texts(session, (r.free_text_id for r in rows))
    return [
        TimelineRow(
            seq=r.seq,
            at=r.at,
            actor_role=r.actor_role,
            actor_ref=r.actor_ref,
            action=r.action,
            from_stage=r.from_stage,
            to_stage=r.to_stage,
            reason=typed.get(r.free_text_id or "") or r.reason,
            detail=dict(r.detail or {}),
        )
        for r in rows
    ]


def journey_cheques(session: Session, journey_id: str) -> list[Cheque]:
    order = (col(Cheque.millesime), col(Cheque.booklet_number), col(Cheque.number))
    return _of_journey(session, Cheque, journey_id, *order)


def booklet_allocation(session: Session, journey_id: str) -> BookletAllocation | None:
    """The allocation of the booklet the person holds (the latest: a lost one is replaced)."""
    return session.exec(
        select(BookletAllocation)
        .where(BookletAllocation.journey_id == journey_id)
        .order_by(col(BookletAllocation.sequence).desc())
    ).first()


def booklet_allocations(session: Session, journey_id: str) -> list[BookletAllocation]:
    """Every booklet the journey received, the first first."""
    return list(
        session.exec(
            select(BookletAllocation)
            .where(BookletAllocation.journey_id == journey_id)
            .order_by(col(BookletAllocation.sequence))
        ).all()
    )


def lost_booklet(
    session: Session, programme_code: int, booklet_number: int
) -> BookletAllocation | None:
    """Booklet `booklet_number` of the programme if it was declared lost."""
    return session.exec(
        select(BookletAllocation).where(
            BookletAllocation.programme_code == programme_code,
            BookletAllocation.booklet_number == booklet_number,
            col(BookletAllocation.lost_at).is_not(None),
        )
    ).first()


def last_session_of_structure(
    session: Session, journey_id: str, structure: int | None
) -> str | None:
    """The last training session a mediation structure logged on a journey (it keeps read
    access to what it logged after the person moved to another structure)."""
    if structure is None:
        return None
    return session.exec(
        select(TrainingSession.session_id)
        .where(
            TrainingSession.journey_id == journey_id,
            TrainingSession.mediation_structure_id == structure,
        )
        .order_by(col(TrainingSession.day).desc(), col(TrainingSession.logged_at).desc())
    ).first()


def journey_sessions(session: Session, journey_id: str) -> list[TrainingSession]:
    order = (col(TrainingSession.day), col(TrainingSession.logged_at))
    return _of_journey(session, TrainingSession, journey_id, *order)


def journey_orientations(session: Session, journey_id: str) -> list[Orientation]:
    return _of_journey(session, Orientation, journey_id, col(Orientation.since))


def find_cheque(session: Session, serial_digits: str) -> Cheque | None:
    """The cheque with this canonical 16-digit serial (see domain.serials.normalise)."""
    return session.get(Cheque, serial_digits)


def find_cheques(session: Session, serials_digits: list[str]) -> dict[str, Cheque]:
    """The cheques among these canonical serials, by serial (unknown ones are absent)."""
    if not serials_digits:
        return {}
    rows = session.exec(select(Cheque).where(col(Cheque.serial).in_(serials_digits))).all()
    return {row.serial: row for row in rows}


def journey_programme_code(session: Session, journey_id: str) -> int | None:
    """The programme of a journey, or None if the records do not know it."""
    return session.exec(select(Journey.programme_code).where(Journey.id == journey_id)).first()


_S = TypeVar("_S", ReceptionStructure, MediationStructure)


def _structures(model: type[_S], programme_code: int) -> SelectOfScalar[_S]:
    """The structures of `model` of a programme (a query to narrow and order)."""
    return (
        select(model)
        .join(Programme, col(Programme.id) == col(model.programme_id))
        .where(Programme.code == programme_code)
    )


def list_reception_structures(
    session: Session, programme_code: int, epci_id: int | None = None
) -> list[ReceptionStructure]:
    query = _structures(ReceptionStructure, programme_code)
    if epci_id is not None:
        query = query.where(ReceptionStructure.epci_id == epci_id)
    return list(session.exec(query.order_by(col(ReceptionStructure.name))).all())


def list_mediation_structures(
    session: Session, programme_code: int, epci_id: int | None = None
) -> list[MediationStructure]:
    """Mediation structures of the programme; with `epci_id`, those serving that EPCI."""
    query = _structures(MediationStructure, programme_code)
    if epci_id is not None:
        served = select(MediationStructureEpci.mediation_structure_id).where(
            MediationStructureEpci.epci_id == epci_id
        )
        query = query.where(col(MediationStructure.id).in_(served))
    return list(session.exec(query.order_by(col(MediationStructure.name))).all())


def served_epci_ids(session: Session, mediation_structure_id: int) -> list[int]:
    return list(
        session.exec(
            select(MediationStructureEpci.epci_id)
            .where(MediationStructureEpci.mediation_structure_id == mediation_structure_id)
            .order_by(col(MediationStructureEpci.epci_id))
        ).all()
    )


def get_reception_structure(session: Session, id: int) -> ReceptionStructure | None:
    return session.get(ReceptionStructure, id)


def get_mediation_structure(session: Session, id: int) -> MediationStructure | None:
    return session.get(MediationStructure, id)


def get_beneficiary(session: Session, journey_id: str) -> Beneficiary | None:
    return session.exec(select(Beneficiary).where(Beneficiary.journey_id == journey_id)).first()


def _by_key(session: Session, idempotency_key: str) -> Beneficiary | None:
    return session.exec(
        select(Beneficiary).where(Beneficiary.idempotency_key == idempotency_key)
    ).first()


def register_beneficiary(
    session: Session,
    *,
    idempotency_key: str,
    journey_id: str,
    first_name: str,
    last_name: str,
    preferred_channel: Channel | str,
    consent_text: str,
    consent_recorded_by: str,
    consent_given_at: datetime | None = None,
    consent_version: int | None = None,
    birth_year: int | None = None,
    phone: str | None = None,
    email: str | None = None,
    postal_address: str | None = None,
    commune: str | None = None,
    now: datetime | None = None,
) -> tuple[Beneficiary, bool]:
    """Record the person of a new referral; (row, created).

    Idempotent on `idempotency_key`: a second call (double submit, retried request)
    returns the first row and changes nothing, whatever the other arguments say.
    Consent is given at referral: `consent_given_at` defaults to `now` (default: the clock).
    """
    now = now or clock.now()
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return existing, False
    beneficiary = Beneficiary(
        journey_id=journey_id,
        idempotency_key=idempotency_key,
        first_name=first_name,
        last_name=last_name,
        birth_year=birth_year,
        phone=phone,
        email=email,
        postal_address=postal_address,
        commune=commune,
        preferred_channel=Channel(preferred_channel).value,
        consent_given_at=consent_given_at or now,
        consent_text=consent_text,
        consent_version=consent_version,
        consent_recorded_by=consent_recorded_by,
        created_at=now,
    )
    try:
        # A savepoint: losing a race to a concurrent submit must not undo the caller's work.
        with session.begin_nested():
            session.add(beneficiary)
    except IntegrityError:
        existing = _by_key(session, idempotency_key)
        if existing is None:
            raise  # another constraint (journey_id already registered under another key)
        return existing, False
    return beneficiary, True


# ---- social workers' pages ----


def beneficiaries_for(session: Session, journey_ids: list[str]) -> dict[str, Beneficiary]:
    """The person of each journey among `journey_ids` (one query for a whole list)."""
    if not journey_ids:
        return {}
    rows = session.exec(
        select(Beneficiary).where(col(Beneficiary.journey_id).in_(journey_ids))
    ).all()
    return {row.journey_id: row for row in rows}


def journey_stage_counts(
    session: Session, *, programme_code: int, scope: JourneyScope | None = None
) -> dict[str, int]:
    """How many journeys per stage (stage value -> count) within `scope`."""
    conditions: list[Any] = [Journey.programme_code == programme_code]
    if scope is not None and not scope.everything:
        conditions.append(scope.condition())
    rows = session.execute(
        sa_select(col(Journey.stage), func.count()).where(*conditions).group_by(col(Journey.stage))
    ).all()
    return {str(stage): int(n) for stage, n in rows}


def _names(session: Session, id_column: Any, name_column: Any, ids: list[int]) -> dict[int, str]:
    """{id: name} of the rows with these ids (two columns of one table)."""
    if not ids:
        return {}
    rows = session.execute(
        sa_select(col(id_column), col(name_column)).where(col(id_column).in_(ids))
    ).all()
    return {int(i): str(name) for i, name in rows}


def account_names(session: Session, ids: list[int]) -> dict[int, str]:
    """Full names of these accounts, by id (for "who" in a timeline)."""
    return _names(session, Account.id, Account.full_name, ids)


def mediation_structure_names(session: Session, ids: list[int]) -> dict[int, str]:
    return _names(session, MediationStructure.id, MediationStructure.name, ids)


def journey_assessment(session: Session, journey_id: str, kind: str) -> Assessment | None:
    """The journey's assessment of `kind` (domain.needs.AssessmentKind value)."""
    return session.exec(
        select(Assessment).where(Assessment.journey_id == journey_id, Assessment.kind == kind)
    ).first()


@dataclass(frozen=True)
class MediationSuggestion:
    """A mediation structure proposed for a journey, with why."""

    structure: MediationStructure
    based_in_epci: bool  # its seat is in the journey's EPCI
    serves_epci: bool  # the journey's EPCI is among those it serves
    matching_themes: list[str]  # the assessed needs it covers (domain.needs.Theme values)
    open_trainees: int  # open journeys it trains now

    @property
    def remaining(self) -> int:
        return self.structure.capacity - self.open_trainees


def suggest_mediation_structures(
    session: Session, *, programme_code: int, epci_id: int, needs: list[str], on: date
) -> list[MediationSuggestion]:
    """The programme's active mediation structures APTIC-qualified on `on`, best first: those
    serving the journey's EPCI (seated there first), then those covering more of `needs`,
    then those with more room left (capacity minus open trainees). Four queries."""
    structures = [
        s
        for s in session.exec(
            select(MediationStructure)
            .join(Programme, col(Programme.id) == col(MediationStructure.programme_id))
            .where(Programme.code == programme_code)
        ).all()
        if s.active and s.is_qualified_on(on)
    ]
    ids = [s.id for s in structures if s.id is not None]
    if not ids:
        return []
    serving = set(
        session.exec(
            select(MediationStructureEpci.mediation_structure_id).where(
                MediationStructureEpci.epci_id == epci_id,
                col(MediationStructureEpci.mediation_structure_id).in_(ids),
            )
        ).all()
    )
    trainees: dict[int | None, int] = dict(
        session.execute(  # type: ignore[arg-type]
            sa_select(col(Journey.mediation_structure_id), func.count())
            .where(
                col(Journey.programme_code) == programme_code,
                col(Journey.mediation_structure_id).in_(ids),
                col(Journey.stage).in_([s.value for s in OPEN_STAGES]),
            )
            .group_by(col(Journey.mediation_structure_id))
        ).all()
    )
    wanted = list(dict.fromkeys(needs))
    suggestions = [
        MediationSuggestion(
            structure=s,
            based_in_epci=s.epci_id == epci_id,
            serves_epci=s.epci_id == epci_id or s.id in serving,
            matching_themes=[t for t in wanted if t in s.themes],
            open_trainees=int(trainees.get(s.id, 0)),
        )
        for s in structures
    ]
    suggestions.sort(
        key=lambda x: (
            not x.serves_epci,
            not x.based_in_epci,
            -len(x.matching_themes),
            -x.remaining,
            x.structure.name,
        )
    )
    return suggestions


# ---- mediators' pages ----

_REDEEMED = ("REDEEMED", "REIMBURSED")  # domain.stages.ChequeStatus values


@dataclass(frozen=True)
class PendingOrientationRow:
    """An orientation waiting for a mediation structure's answer, with what it needs to know."""

    journey_id: str
    first_name: str | None
    commune: str | None
    needs: list[str]  # the entry assessment's themes (domain.needs.Theme values)
    since: datetime


def pending_orientations(
    session: Session, *, programme_code: int, mediation_structure_id: int
) -> list[PendingOrientationRow]:
    """Journeys oriented to this structure and waiting for its answer, oldest first."""
    rows = session.execute(
        sa_select(
            col(Journey.id),
            col(Beneficiary.first_name),
            col(Beneficiary.commune),
            col(Assessment.needs),
            col(Orientation.since),
            col(Journey.oriented_at),
        )
        .select_from(Journey)
        .outerjoin(Beneficiary, col(Beneficiary.journey_id) == col(Journey.id))
        .outerjoin(
            Assessment,
            and_(col(Assessment.journey_id) == col(Journey.id), col(Assessment.kind) == "ENTRY"),
        )
        .outerjoin(
            Orientation,
            and_(
                col(Orientation.journey_id) == col(Journey.id),
                col(Orientation.status) == _PENDING,
                col(Orientation.mediation_structure_id) == mediation_structure_id,
            ),
        )
        .where(
            col(Journey.programme_code) == programme_code,
            col(Journey.orientation_structure_id) == mediation_structure_id,
            col(Journey.orientation_status) == _PENDING,
        )
    ).all()
    found = [
        PendingOrientationRow(
            journey_id=jid,
            first_name=first,
            commune=commune,
            needs=list(needs or []),
            since=since or oriented_at or clock.now(),
        )
        for jid, first, commune, needs, since, oriented_at in rows
    ]
    return sorted(found, key=lambda r: (r.since, r.journey_id))


@dataclass(frozen=True)
class TraineeRow:
    """A journey a mediation structure trains, for its list of trainees."""

    journey_id: str
    first_name: str | None
    commune: str | None
    stage: str
    millesime: int | None
    cheques_total: int
    cheques_redeemed: int
    last_session_day: date | None

    @property
    def cheques_left(self) -> int:
        return self.cheques_total - self.cheques_redeemed if self.stage in OPEN_STAGES else 0


def mediation_trainees(
    session: Session,
    *,
    programme_code: int,
    mediation_structure_id: int,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TraineeRow], int]:
    """One page of the journeys this structure trains (open ones first, then the most
    recent activity) and their total. Two queries."""
    conditions: list[Any] = [
        col(Journey.programme_code) == programme_code,
        col(Journey.mediation_structure_id) == mediation_structure_id,
    ]
    total = session.exec(select(func.count()).select_from(Journey).where(*conditions)).one()
    # The page of journeys first, then its people and last sessions, one by one by their
    # journey indexes: a join before the LIMIT hashed every programme's people, and a GROUP
    # BY of the sessions read every programme's sessions, at each call.
    j = (
        sa_select(
            col(Journey.id),
            col(Journey.stage),
            col(Journey.millesime),
            col(Journey.cheques_total),
            col(Journey.cheques_redeemed),
            (col(Journey.closed_at).is_not(None)).label("closed"),
            (col(Journey.last_activity_at).is_(None)).label("inactive"),
            col(Journey.last_activity_at),
        )
        .where(*conditions)
        .order_by("closed", "inactive", col(Journey.last_activity_at).desc(), col(Journey.id))
        .limit(max(0, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
        .subquery()
    )
    last_session_day = (
        sa_select(func.max(col(TrainingSession.day)))
        .where(col(TrainingSession.journey_id) == j.c.id)
        .scalar_subquery()
    )
    rows = session.execute(
        sa_select(
            j.c.id,
            col(Beneficiary.first_name),
            col(Beneficiary.commune),
            j.c.stage,
            j.c.millesime,
            j.c.cheques_total,
            j.c.cheques_redeemed,
            last_session_day,
        )
        .select_from(j)
        .outerjoin(Beneficiary, col(Beneficiary.journey_id) == j.c.id)
        .order_by(j.c.closed, j.c.inactive, j.c.last_activity_at.desc(), j.c.id)
    ).all()
    return [TraineeRow(*row) for row in rows], int(total)


@dataclass(frozen=True)
class RedeemedChequeRow:
    serial: str
    redeemed_on: date
    status: str  # REDEEMED or REIMBURSED
    journey_id: str
    first_name: str | None


def cheques_redeemed_by(
    session: Session,
    *,
    programme_code: int,
    mediation_structure_id: int,
    start: date,
    end: date,
) -> list[RedeemedChequeRow]:
    """The cheques this structure took for sessions held on days in [start, end)."""
    rows = session.execute(
        sa_select(
            col(Cheque.serial),
            col(Cheque.redeemed_on),
            col(Cheque.status),
            col(Cheque.journey_id),
            col(Beneficiary.first_name),
        )
        .select_from(Cheque)
        .outerjoin(Beneficiary, col(Beneficiary.journey_id) == col(Cheque.journey_id))
        .where(
            col(Cheque.programme_code) == programme_code,
            col(Cheque.mediation_structure_id) == mediation_structure_id,
            col(Cheque.status).in_(_REDEEMED),
            col(Cheque.redeemed_on) >= start,
            col(Cheque.redeemed_on) < end,
        )
        .order_by(col(Cheque.redeemed_on), col(Cheque.serial))
    ).all()
    return [RedeemedChequeRow(*row) for row in rows]


def get_training_session(session: Session, session_id: str) -> TrainingSession | None:
    return session.get(TrainingSession, session_id)


def journeys_by_person_name(
    session: Session,
    *,
    programme_code: int,
    text: str,
    scope: JourneyScope | None = None,
    limit: int = 50,
) -> tuple[list[Journey], int]:
    """Journeys whose person's first or last name contains `text` (case-insensitive), most
    recent activity first, within `scope`; and how many match. Anonymised people never match."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    conditions: list[Any] = [
        Journey.programme_code == programme_code,
        or_(
            func.lower(col(Beneficiary.first_name)).like(pattern, escape="\\"),
            func.lower(col(Beneficiary.last_name)).like(pattern, escape="\\"),
            func.lower(
                func.coalesce(col(Beneficiary.first_name), "")
                + " "
                + func.coalesce(col(Beneficiary.last_name), "")
            ).like(pattern, escape="\\"),
        ),
    ]
    if scope is not None and not scope.everything:
        conditions.append(scope.condition())
    base = select(Journey).join(Beneficiary, col(Beneficiary.journey_id) == col(Journey.id))
    total = session.exec(
        select(func.count())
        .select_from(Journey)
        .join(Beneficiary, col(Beneficiary.journey_id) == col(Journey.id))
        .where(*conditions)
    ).one()
    rows = session.exec(
        base.where(*conditions)
        .order_by(
            col(Journey.last_activity_at).is_(None),
            col(Journey.last_activity_at).desc(),
            col(Journey.id),
        )
        .limit(max(0, min(limit, MAX_PAGE)))
    ).all()
    return list(rows), int(total)
