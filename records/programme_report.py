"""Figures of the programme report for funders and the State (api/programme_report.py draws
them), beyond the overview's (records/coordination.py): the funnel of stages reached,
cheques issued, spent and expired per month, spending per EPCI, and the impact (autonomy
at the entry assessment against the exit assessment, themes of needs, sessions per person).

Within the same scope and filters as the exports (`records.exports.ExportContext`: the
journeys the overview counts). Aggregates run in SQL where the answer is small (a few
rows per day, level or EPCI); what needs a Paris month of an instant or a JSON list is
folded here from rows fetched in batches, so memory does not grow with the journeys.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from domain.needs import AssessmentKind, AutonomyLevel, Theme
from domain.stages import ChequeStatus, Outcome
from domain.validity import last_day_before, paris_month
from records.exports import FETCH_ROWS, ExportContext, journey_conditions
from records.models import Assessment, Cheque, Journey, OverviewCount, TrainingSession

SPENT = (ChequeStatus.REDEEMED.value, ChequeStatus.REIMBURSED.value)


@dataclass(frozen=True)
class Step:
    label: str
    journeys: int


@dataclass(frozen=True)
class Month:
    month: int  # YYYYMM
    issued: int  # cheques handed out in booklets that month
    spent: int  # cheques taken by mediators that month (session date)
    expired: int  # cheques whose last valid day fell that month, unspent

    @property
    def label(self) -> str:
        return f"{self.month % 100:02d}/{self.month // 100}"


@dataclass(frozen=True)
class EpciSpending:
    epci_id: int
    name: str
    journeys: int
    cheques_issued: int
    cheques_spent: int


@dataclass(frozen=True)
class Impact:
    entry: dict[str, int]  # AutonomyLevel value -> journeys, at the entry assessment
    exit: dict[str, int]  # at the exit assessment
    both: int  # journeys assessed at entry and exit
    progressed: int  # of those, a higher level at exit
    unchanged: int
    regressed: int
    themes: list[tuple[str, int]]  # Theme label, journeys needing it; most needed first
    assessed: int  # journeys with an entry assessment
    sessions_histogram: dict[int, int]  # sessions -> journeys holding a booklet
    sessions: int  # training sessions held
    minutes: int  # their total duration

    @property
    def sessions_per_person_median(self) -> float | None:
        counts = self.sessions_histogram
        if not counts:
            return None
        return _histogram_median(counts)

    @property
    def with_booklet(self) -> int:
        return sum(self.sessions_histogram.values())


def _histogram_median(counts: dict[int, int]) -> float:
    n = sum(counts.values())
    ranks = sorted({(n - 1) // 2, n // 2})
    values: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while ranks and ranks[0] < seen:
            values.append(value)
            ranks.pop(0)
    return statistics.fmean(values)


@dataclass(frozen=True)
class ReportFigures:
    funnel: list[Step]
    months: list[Month]
    epci: list[EpciSpending]
    impact: Impact


def funnel(session: Session, ctx: ExportContext) -> list[Step]:
    """How many journeys reached each step (at least once), in order."""
    j = Journey

    def reached(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        sa_select(
            func.count(),
            reached(col(j.assessed_at).is_not(None)),
            reached(col(j.booklet_issued_at).is_not(None)),
            reached(col(j.oriented_at).is_not(None) | col(j.training_started_at).is_not(None)),
            reached(col(j.sessions_count) > 0),
            reached(col(j.exit_autonomy).is_not(None)),
            reached(col(j.outcome) == Outcome.COMPLETED.value),
        ).where(*journey_conditions(ctx))
    ).one()
    labels = (
        "Entrés dans le dispositif",
        "Diagnostic réalisé",
        "Carnet remis",
        "Orientés vers un médiateur",
        "Au moins une séance",
        "Diagnostic de sortie",
        "Tous les chèques utilisés",
    )
    return [Step(label, int(n)) for label, n in zip(labels, row, strict=True)]


def months(session: Session, ctx: ExportContext) -> list[Month]:
    """Cheques issued, spent and expired per Paris month, from the first month with any to
    the last (months without any included: a chart's axis)."""
    where = journey_conditions(ctx)
    issued: Counter[int] = Counter()
    booklets = session.execute(
        sa_select(col(Journey.booklet_issued_at), col(Journey.cheques_total))
        .where(*where, col(Journey.booklet_issued_at).is_not(None))
        .execution_options(yield_per=FETCH_ROWS)
    )
    for at, cheques in booklets:
        issued[paris_month(at)] += int(cheques)
    spent: Counter[int] = Counter()
    for day, n in session.execute(
        sa_select(col(Cheque.redeemed_on), func.count())
        .join(Journey, col(Journey.id) == col(Cheque.journey_id))
        .where(*where, col(Cheque.status).in_(SPENT), col(Cheque.redeemed_on).is_not(None))
        .group_by(col(Cheque.redeemed_on))
    ):
        spent[day.year * 100 + day.month] += int(n)
    expired: Counter[int] = Counter()
    for until, n in session.execute(
        sa_select(col(Cheque.valid_until), func.count())
        .join(Journey, col(Journey.id) == col(Cheque.journey_id))
        .where(
            *where,
            col(Cheque.status) == ChequeStatus.EXPIRED.value,
            col(Cheque.valid_until).is_not(None),
        )
        .group_by(col(Cheque.valid_until))
    ):
        last = last_day_before(until)
        expired[last.year * 100 + last.month] += int(n)
    found = set(issued) | set(spent) | set(expired)
    if not found:
        return []
    out = []
    month = min(found)
    while month <= max(found):
        out.append(Month(month, issued[month], spent[month], expired[month]))
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    return out


def epci_spending(session: Session, ctx: ExportContext) -> list[EpciSpending]:
    """Journeys and cheques per EPCI, from the overview's counters (a few rows per EPCI)."""
    where = [
        col(OverviewCount.programme_code) == ctx.programme.code,
        *ctx.filters.conditions(OverviewCount),
    ]
    if not ctx.scope.everything:
        if ctx.scope.epci_id is None:
            return []
        where.append(col(OverviewCount.epci_id) == ctx.scope.epci_id)
    rows = session.execute(
        sa_select(
            col(OverviewCount.epci_id),
            func.sum(col(OverviewCount.journeys)),
            func.sum(col(OverviewCount.cheques_total)),
            func.sum(col(OverviewCount.cheques_redeemed)),
        )
        .where(*where)
        .group_by(col(OverviewCount.epci_id))
    ).all()
    figures = [
        EpciSpending(
            epci_id=int(e),
            name=ctx.names.epci.get(int(e), f"Intercommunalité n° {e}"),
            journeys=int(n or 0),
            cheques_issued=int(total or 0),
            cheques_spent=int(spent or 0),
        )
        for e, n, total, spent in rows
        if n
    ]
    return sorted(figures, key=lambda f: (-f.cheques_spent, f.name))


def impact(session: Session, ctx: ExportContext) -> Impact:
    where = journey_conditions(ctx)
    entry: Counter[str] = Counter()
    exit_: Counter[str] = Counter()
    progressed = unchanged = regressed = 0
    for before, after, n in session.execute(
        sa_select(col(Journey.entry_autonomy), col(Journey.exit_autonomy), func.count())
        .where(*where)
        .group_by(col(Journey.entry_autonomy), col(Journey.exit_autonomy))
    ):
        n = int(n)
        if before:
            entry[before] += n
        if after:
            exit_[after] += n
        if before and after:
            delta = AutonomyLevel(after).rank - AutonomyLevel(before).rank
            if delta > 0:
                progressed += n
            elif delta == 0:
                unchanged += n
            else:
                regressed += n
    themes: Counter[str] = Counter()
    assessed = 0
    needs = session.execute(
        sa_select(col(Assessment.needs))
        .join(Journey, col(Journey.id) == col(Assessment.journey_id))
        .where(*where, col(Assessment.kind) == AssessmentKind.ENTRY.value)
        .execution_options(yield_per=FETCH_ROWS)
    )
    for (values,) in needs:
        assessed += 1
        themes.update(set(values or []))
    histogram = {
        int(k): int(n)
        for k, n in session.execute(
            sa_select(col(Journey.sessions_count), func.count())
            .where(*where, col(Journey.millesime).is_not(None))
            .group_by(col(Journey.sessions_count))
        )
    }
    sessions, minutes = session.execute(
        sa_select(func.count(), func.coalesce(func.sum(col(TrainingSession.duration_minutes)), 0))
        .join(Journey, col(Journey.id) == col(TrainingSession.journey_id))
        .where(*where)
    ).one()

    def theme_label(value: str) -> str:
        try:
            return Theme(value).label
        except ValueError:
            return value

    return Impact(
        entry=dict(entry),
        exit=dict(exit_),
        both=progressed + unchanged + regressed,
        progressed=progressed,
        unchanged=unchanged,
        regressed=regressed,
        themes=[
            (theme_label(t), n) for t, n in sorted(themes.items(), key=lambda x: (-x[1], x[0]))
        ],
        assessed=assessed,
        sessions_histogram=histogram,
        sessions=int(sessions),
        minutes=int(minutes),
    )


def report_figures(session: Session, ctx: ExportContext) -> ReportFigures:
    return ReportFigures(
        funnel=funnel(session, ctx),
        months=months(session, ctx),
        epci=epci_spending(session, ctx),
        impact=impact(session, ctx),
    )
