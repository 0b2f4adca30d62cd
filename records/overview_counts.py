"""Counters of the coordinators' overview, kept by the projection in each event's transaction.

`OverviewCount` holds, per (programme, EPCI, reception structure, mediation structure,
millésime, month of referral, stage, stalled, outcome), the number of journeys and the sums
of their cheque counters; `OverviewFirstSession` the number of journeys per (the same
dimensions, days to the first session). The dimensions are the overview's filters.
The same rolled up to (programme, EPCI, millésime, month) (`OverviewMonthly`) and to
(programme, EPCI, millésime) (`OverviewTotal`) serve the overview when no structure (and no
month) is filtered: numbers of rows that do not grow with the journeys. Each table is exactly the GROUP BY of the journey
rows: `record_change` counts the difference a journey row's write makes
(nothing when the overview's columns did not change, so a retried or late event, which
leaves the journey row alone, counts nothing) and the session writes the sum of them when
it commits (a rollback drops them). Rows whose count falls to zero stay.

Each write is an `INSERT ... ON CONFLICT DO UPDATE SET n = n + delta` (SQLite and
PostgreSQL), in key order so that two transactions never wait on each other crosswise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, event, func, insert, select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from records import upserts
from records.models import (
    Journey,
    OverviewCount,
    OverviewFirstSession,
    OverviewMonthly,
    OverviewMonthlyFirstSession,
    OverviewTotal,
    OverviewTotalFirstSession,
)
from records.upserts import additive_upsert

COUNT: Table = OverviewCount.__table__  # type: ignore[attr-defined]
FIRST_SESSION: Table = OverviewFirstSession.__table__  # type: ignore[attr-defined]
MONTHLY: Table = OverviewMonthly.__table__  # type: ignore[attr-defined]
MONTHLY_FIRST_SESSION: Table = OverviewMonthlyFirstSession.__table__  # type: ignore[attr-defined]
TOTAL: Table = OverviewTotal.__table__  # type: ignore[attr-defined]
TOTAL_FIRST_SESSION: Table = OverviewTotalFirstSession.__table__  # type: ignore[attr-defined]
_JOURNEY: Table = Journey.__table__  # type: ignore[attr-defined]
# What the overview filters on; 0 stands for none (primary key columns are never null).
DIMENSIONS = (
    "programme_code",
    "epci_id",
    "reception_structure_id",
    "mediation_structure_id",
    "millesime",
    "referred_month",
)
TOTAL_DIMENSIONS = ("programme_code", "epci_id", "millesime")
MONTHLY_DIMENSIONS = (*TOTAL_DIMENSIONS, "referred_month")
COUNT_KEY = (*DIMENSIONS, "stage", "stalled", "outcome")
COUNT_SUMS = ("journeys", "cheques_total", "cheques_redeemed")
FIRST_SESSION_KEY = (*DIMENSIONS, "days")
_PENDING = "overview_counts.pending"  # session.info key: {table name: {key: differences}}


@dataclass(frozen=True)
class Level:
    """A pair of counter tables and the dimensions they keep."""

    counts: Table
    first_sessions: Table
    dimensions: tuple[str, ...]

    @property
    def count_key(self) -> tuple[str, ...]:
        return (*self.dimensions, "stage", "stalled", "outcome")

    @property
    def first_session_key(self) -> tuple[str, ...]:
        return (*self.dimensions, "days")


FINE = Level(COUNT, FIRST_SESSION, DIMENSIONS)
MONTHLY_LEVEL = Level(MONTHLY, MONTHLY_FIRST_SESSION, MONTHLY_DIMENSIONS)
ROLLED_UP = Level(TOTAL, TOTAL_FIRST_SESSION, TOTAL_DIMENSIONS)
LEVELS = (FINE, MONTHLY_LEVEL, ROLLED_UP)


def _dimensions(row: Mapping[str, Any], dimensions: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(int(row[d] or 0) for d in dimensions)


def record_change(
    session: Session, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> None:
    """Count a journey row's write: `before` the row as it was (None: a new journey),
    `after` as it is now (every column of the overview present in both).

    The differences add up in the session and are written just before it commits, all
    keys in order: a transaction recording several events (or journeys) locks the shared
    counter rows once, in the same order as any other, and only for its last moment."""
    pending = session.info.setdefault(_PENDING, {})
    for row, sign in ((before, -1), (after, 1)):
        if row is None:
            continue
        for level in LEVELS:
            dims = _dimensions(row, level.dimensions)
            key = (*dims, row["stage"], bool(row["stalled"]), row["outcome"] or "")
            sums = pending.setdefault(level.counts.name, {}).setdefault(key, [0, 0, 0])
            sums[0] += sign
            sums[1] += sign * int(row["cheques_total"] or 0)
            sums[2] += sign * int(row["cheques_redeemed"] or 0)
            if row["days_to_first_session"] is not None:
                days = pending.setdefault(level.first_sessions.name, {})
                days.setdefault((*dims, int(row["days_to_first_session"])), [0])[0] += sign


def write_pending(session: Session) -> None:
    """Write the differences counted in this transaction (done by commit itself)."""
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    for level in LEVELS:
        for table, key, sums in (
            (level.counts, level.count_key, COUNT_SUMS),
            (level.first_sessions, level.first_session_key, ("journeys",)),
        ):
            deltas = pending.get(table.name, {})
            _add(
                session,
                table,
                key,
                sums,
                [(k, tuple(v)) for k, v in sorted(deltas.items()) if any(v)],
            )


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    if _PENDING in session.info:
        write_pending(session)  # type: ignore[arg-type]


@event.listens_for(OrmSession, "after_transaction_end")
def _after_transaction_end(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back (or committed): nothing is left to count
        session.info.pop(_PENDING, None)


_UPSERTS = {
    table.name: additive_upsert(table, key, sums)
    for level in LEVELS
    for table, key, sums in (
        (level.counts, level.count_key, COUNT_SUMS),
        (level.first_sessions, level.first_session_key, ("journeys",)),
    )
}


def _add(
    session: Session,
    table: Table,
    key: tuple[str, ...],
    sums: tuple[str, ...],
    deltas: list[tuple[tuple[Any, ...], tuple[int, ...]]],
) -> None:
    upserts.add(
        session,
        _UPSERTS[table.name],
        [dict(zip(key, k, strict=True)) | dict(zip(sums, v, strict=True)) for k, v in deltas],
    )


def rebuild(session: Session) -> None:
    """Recount everything from the journey rows (after rows were written in bulk, outside
    the projection). The caller commits."""
    for level in LEVELS:
        session.execute(delete(level.counts))
        session.execute(delete(level.first_sessions))
        session.execute(
            insert(level.counts).from_select([*level.count_key, *COUNT_SUMS], recount_query(level))
        )
        session.execute(
            insert(level.first_sessions).from_select(
                [*level.first_session_key, "journeys"], first_session_recount_query(level)
            )
        )


def _dimension_columns(level: Level) -> list[Any]:
    return [func.coalesce(_JOURNEY.c[d], 0) for d in level.dimensions]


def recount_query(level: Level = FINE) -> Any:
    """The counts of `level` computed from the journeys (a full scan)."""
    j = _JOURNEY.c
    key = [*_dimension_columns(level), j.stage, j.stalled, func.coalesce(j.outcome, "")]
    return select(
        *key,
        func.count(),
        func.coalesce(func.sum(j.cheques_total), 0),
        func.coalesce(func.sum(j.cheques_redeemed), 0),
    ).group_by(*key)


def first_session_recount_query(level: Level = FINE) -> Any:
    """The first-session histogram of `level` computed from the journeys (a full scan)."""
    j = _JOURNEY.c
    key = [*_dimension_columns(level), j.days_to_first_session]
    return select(*key, func.count()).where(j.days_to_first_session.is_not(None)).group_by(*key)
