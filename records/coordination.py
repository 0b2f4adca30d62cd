"""Read queries of the coordinators' pages: the programme overview and the stalled journeys.

Within a coordinator's scope (`records.queries.JourneyScope`: one EPCI, or the whole
programme). The overview reads the counters the projection keeps with each journey event
(`records.overview_counts`, migration 0006): its cost does not grow with the journeys. The
stalled list reads one range of the (programme, stalled, stalled since) journey index.

Cheque figures sum the journeys' counters (`cheques_total` counts the booklet's live
cheques, `cheques_redeemed` the spent ones); a cheque expires only when its journey closes
EXPIRED, so expired cheques are the unspent ones of those journeys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from domain.stages import ChequeStatus, Outcome, Stage
from domain.validity import last_day_before, paris_today
from records import ledger
from records.models import (
    Cheque,
    Epci,
    Journey,
    MediationStructure,
    OverviewCount,
    OverviewFirstSession,
    OverviewMonthly,
    OverviewMonthlyFirstSession,
    OverviewTotal,
    OverviewTotalFirstSession,
    Programme,
    ReceptionStructure,
)
from records.queries import MAX_PAGE, JourneyScope


@dataclass(frozen=True)
class EpciFigures:
    epci_id: int
    name: str
    by_stage: dict[str, int]
    stalled: int

    @property
    def total(self) -> int:
        return sum(self.by_stage.values())

    @property
    def open(self) -> int:
        return sum(n for s, n in self.by_stage.items() if Stage(s).is_open)


@dataclass(frozen=True)
class FunderFigures:
    """A funder's line as the overview shows it, read from the funder ledger
    (records/ledger.py): within an EPCI's scope, that EPCI's line in full and the part of
    the others charged to its territory's cheques (no budget: not the EPCI's)."""

    name: str
    kind_label: str
    share_bp: int | None  # its share of each cheque in the funding rule
    budget_cents: int | None
    issued_cents: int  # committed by every cheque issued (within the scope)
    redeemed_cents: int  # spent
    left_cents: int | None  # remaining: budget less engaged and spent

    @property
    def share_percent(self) -> str:
        if self.share_bp is None:
            return "—"
        return f"{self.share_bp / 100:.2f}".replace(".", ",") + " %"


@dataclass(frozen=True)
class Overview:
    cheque_value_cents: int
    by_stage: dict[str, int]
    epci: list[EpciFigures]
    stalled: int
    cheques_issued: int
    cheques_redeemed: int
    cheques_expired: int
    funders: list[FunderFigures]
    budget_total_cents: int
    median_days_to_first_session: float | None
    journeys_with_session: int
    booklets: int = 0  # journeys holding a booklet
    stages: list[str] = field(default_factory=lambda: [s.value for s in Stage])

    @property
    def total(self) -> int:
        return sum(self.by_stage.values())

    @property
    def cheques_outstanding(self) -> int:
        return self.cheques_issued - self.cheques_redeemed - self.cheques_expired

    def cents(self, count: int) -> int:
        return count * self.cheque_value_cents

    def percent_of(self, target: int | None) -> str | None:
        """The booklets given out as a share of `target`, in French ("12,5 %")."""
        if not target:
            return None
        return f"{100 * self.booklets / target:.1f}".replace(".", ",") + " %"


def _scoped(programme_code: int, scope: JourneyScope) -> list[Any]:
    conditions: list[Any] = [col(Journey.programme_code) == programme_code]
    if not scope.everything:
        conditions.append(scope.condition())
    return conditions


@dataclass(frozen=True)
class Expiring:
    """Unspent cheques of a scope whose last valid day is within EXPIRING_DAYS."""

    cheques: int
    first_day: date | None  # the soonest of their last valid days


EXPIRING_DAYS = 30  # APTIC's funder dashboard looked 30 days ahead
EXPIRING_BANNER_MIN = 10  # fewer is not "many": the banner stays quiet


def expiring_cheques(
    session: Session, programme_code: int, scope: JourneyScope, now: datetime
) -> Expiring:
    """The unspent cheques of `scope` that stop being valid within EXPIRING_DAYS of `now`
    (one range of the (programme, status, valid until) cheque index: the programme's
    unspent cheques near their end only, not every programme's unspent cheques)."""
    count, soonest = session.execute(
        sa_select(func.count(), func.min(col(Cheque.valid_until)))
        .join(Journey, col(Journey.id) == col(Cheque.journey_id))
        .where(
            *_scoped(programme_code, scope),
            col(Cheque.programme_code) == programme_code,  # a cheque's is its journey's
            col(Cheque.status) == ChequeStatus.ISSUED.value,
            col(Cheque.valid_until) > now,
            col(Cheque.valid_until) <= now + timedelta(days=EXPIRING_DAYS),
        )
    ).one()
    return Expiring(int(count), last_day_before(soonest) if soonest is not None else None)


@dataclass(frozen=True)
class OverviewFilter:
    """The overview's filters (None: all): EPCI, structures, millésime (0: journeys
    without a booklet), months of referral (YYYYMM, inclusive; Europe/Paris)."""

    epci_id: int | None = None
    reception_structure_id: int | None = None
    mediation_structure_id: int | None = None  # trains the journey now
    millesime: int | None = None
    from_month: int | None = None
    to_month: int | None = None

    def counters(self) -> tuple[Any, Any]:
        """The counter tables that answer these filters, the smallest first: the rolled-up
        ones without structure (and month) filters, whose size does not grow with the
        journeys."""
        if self.reception_structure_id is not None or self.mediation_structure_id is not None:
            return OverviewCount, OverviewFirstSession
        if self.from_month is not None or self.to_month is not None:
            return OverviewMonthly, OverviewMonthlyFirstSession
        return OverviewTotal, OverviewTotalFirstSession

    def conditions(self, table: Any) -> list[Any]:
        where: list[Any] = []
        for name in ("epci_id", "reception_structure_id", "mediation_structure_id", "millesime"):
            value = getattr(self, name)
            if value is not None:
                where.append(col(getattr(table, name)) == value)
        if self.from_month is not None:
            where.append(col(table.referred_month) >= self.from_month)
        if self.to_month is not None:
            where.append(col(table.referred_month).between(1, self.to_month))
        return where


def programme_overview(
    session: Session,
    programme: Programme,
    scope: JourneyScope,
    filters: OverviewFilter = OverviewFilter(),
) -> Overview:
    """The overview of `programme` within `scope` (the whole programme, or one EPCI) and
    `filters`, read from the counters the projection keeps: rows bounded by structures,
    millésimes, months and stages, whatever the number of journeys."""
    if not (scope.everything or scope.epci_id is not None):
        raise ValueError("the overview covers the whole programme or one EPCI")
    Count, FirstSession = filters.counters()
    counts = [col(Count.programme_code) == programme.code, *filters.conditions(Count)]
    histogram = [
        col(FirstSession.programme_code) == programme.code,
        *filters.conditions(FirstSession),
    ]
    if not scope.everything:
        counts.append(col(Count.epci_id) == scope.epci_id)
        histogram.append(col(FirstSession.epci_id) == scope.epci_id)
    # Summed by the database over the dimensions shown: a few hundred rows come back.
    key = [
        col(Count.epci_id),
        col(Count.millesime) != 0,
        col(Count.stage),
        col(Count.stalled),
        col(Count.outcome),
    ]
    rows = session.execute(
        sa_select(
            *key,
            func.sum(col(Count.journeys)),
            func.sum(col(Count.cheques_total)),
            func.sum(col(Count.cheques_redeemed)),
        )
        .where(*counts, col(Count.journeys) != 0)
        .group_by(*key)
    ).all()
    names: dict[int, str] = {
        int(i): str(n)
        for i, n in session.execute(
            sa_select(col(Epci.id), col(Epci.name)).where(col(Epci.programme_id) == programme.id)
        ).all()
    }
    by_stage: dict[str, int] = {}
    by_epci: dict[int, dict[str, int]] = {}
    stalled_by_epci: dict[int, int] = {}
    issued = redeemed = expired = booklets = 0
    for epci_id, has_booklet, stage, stalled, outcome, n, total, spent in rows:
        n, total, spent = int(n), int(total), int(spent)
        booklets += n if has_booklet else 0
        by_stage[stage] = by_stage.get(stage, 0) + n
        stages = by_epci.setdefault(epci_id, {})
        stages[stage] = stages.get(stage, 0) + n
        stalled_by_epci[epci_id] = stalled_by_epci.get(epci_id, 0) + (n if stalled else 0)
        issued += total
        redeemed += spent
        if outcome == Outcome.EXPIRED.value:
            expired += total - spent  # a booklet expires whole: its unspent cheques
    epci = sorted(
        (
            EpciFigures(
                epci_id=e,
                name=names.get(e, f"Intercommunalité n° {e}"),
                by_stage=stages,
                stalled=stalled_by_epci.get(e, 0),
            )
            for e, stages in by_epci.items()
        ),
        key=lambda f: f.name,
    )
    value = programme.cheque_value_cents
    median, with_session = _median_days_to_first_session(session, FirstSession, histogram)
    return Overview(
        cheque_value_cents=value,
        by_stage=by_stage,
        epci=epci,
        stalled=sum(stalled_by_epci.values()),
        cheques_issued=issued,
        cheques_redeemed=redeemed,
        cheques_expired=expired,
        funders=_funders(session, programme, scope),
        budget_total_cents=programme.budget_total_cents,
        median_days_to_first_session=median,
        journeys_with_session=with_session,
        booklets=booklets,
    )


def _funders(session: Session, programme: Programme, scope: JourneyScope) -> list[FunderFigures]:
    view = ledger.ledger_view(
        session,
        programme,
        epci_id=None if scope.everything else scope.epci_id,
        today=paris_today(),
    )
    return [
        FunderFigures(
            name=f.name,
            kind_label=f.kind_label,
            share_bp=f.share_bp,
            budget_cents=f.balance.budget if f.budget_known else None,
            issued_cents=f.balance.committed,
            redeemed_cents=f.balance.spent,
            left_cents=f.balance.remaining if f.budget_known else None,
        )
        for f in view.funders
    ]


def _median_days_to_first_session(
    session: Session, table: Any, where: list[Any]
) -> tuple[float | None, int]:
    """Median days from referral to the first training session over the journeys of the
    scope that had one, and how many they are, from the histogram of those days (one row
    per day and EPCI: bounded by how long journeys last, not by how many there are)."""
    days = col(table.days)
    histogram = session.execute(
        sa_select(days, func.sum(col(table.journeys))).where(*where).group_by(days).order_by(days)
    ).all()
    n = sum(int(k) for _, k in histogram)
    if n <= 0:
        return None, 0
    wanted = sorted({(n - 1) // 2, n // 2})  # 0-based ranks of the middle value(s)
    values: list[int] = []
    seen = 0
    for day, k in histogram:
        seen += int(k)
        while wanted and wanted[0] < seen:
            values.append(int(day))
            wanted.pop(0)
        if not wanted:
            break
    return sum(values) / len(values), n


# ---- stalled journeys ----


@dataclass(frozen=True)
class StalledFilter:
    epci_id: int | None = None
    stage: str | None = None
    reception_structure_id: int | None = None
    mediation_structure_id: int | None = (
        None  # trains the journey, or holds its pending orientation
    )


def stalled_journeys(
    session: Session,
    *,
    programme_code: int,
    scope: JourneyScope,
    filters: StalledFilter,
    limit: int = 25,
    offset: int = 0,
) -> tuple[list[Journey], int]:
    """One page of the stalled journeys of `scope` (stalled longest first) and their count."""
    where = [*_scoped(programme_code, scope), col(Journey.stalled).is_(True)]
    if filters.epci_id is not None:
        where.append(col(Journey.epci_id) == filters.epci_id)
    if filters.stage is not None:
        where.append(col(Journey.stage) == filters.stage)
    if filters.reception_structure_id is not None:
        where.append(col(Journey.reception_structure_id) == filters.reception_structure_id)
    if filters.mediation_structure_id is not None:
        where.append(
            JourneyScope(mediation_structure_id=filters.mediation_structure_id).condition()
        )
    total = session.execute(sa_select(func.count()).select_from(Journey).where(*where))
    rows = session.exec(
        select(Journey)
        .where(*where)
        .order_by(col(Journey.stalled_since), col(Journey.id))
        .limit(max(0, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    ).all()
    return list(rows), int(total.scalar_one())


# ---- names of reference data ----


@dataclass(frozen=True)
class ReferenceNames:
    epci: dict[int, str]
    reception: dict[int, str]
    mediation: dict[int, str]


def reference_names(session: Session, programme_id: int) -> ReferenceNames:
    """Names of the programme's EPCI and structures, by id (a few dozen rows each)."""

    def names(model: Any) -> dict[int, str]:
        return {
            int(i): str(n)
            for i, n in session.execute(
                sa_select(model.id, model.name)
                .where(model.programme_id == programme_id)
                .order_by(model.name)
            ).all()
        }

    return ReferenceNames(
        epci=names(Epci), reception=names(ReceptionStructure), mediation=names(MediationStructure)
    )
