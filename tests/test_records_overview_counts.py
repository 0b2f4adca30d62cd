"""The overview's counters, kept by the projection, on SQLite and PostgreSQL: after every
event of several journeys (retries of the same seq, a late event, re-orientations,
stalls, closures completed, expired and withdrawn, anonymisation) they equal a full recount
of the journey rows, and the overview read from them equals the figures computed from the
journeys themselves. Migration 0006 back-fills them from journeys already recorded."""

from __future__ import annotations

import copy
import statistics
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sqlmodel import Session

from domain.contracts import (
    Actor,
    ChequeState,
    JourneyEvent,
    JourneyStatus,
    OrientationState,
    SessionState,
)
from domain.needs import SessionKind, SessionPlace, Theme
from domain.serials import booklet_serials
from domain.stages import Action, ChequeStatus, OrientationStatus, Outcome, Role, Stage
from records import coordination, overview_counts, queries
from records.db import SessionFactory, alembic_config, make_engine, session_factory
from records.models import Journey
from records.projection import record_journey_event
from records.queries import JourneyScope
from records.seed import seed_default_programme

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SW = Actor(Role.SOCIAL_WORKER, "sw-1")
MED = Actor(Role.MEDIATOR, "med-5")
PROGRAMME = 12
_JOURNEY = Journey.__table__  # type: ignore[attr-defined]


class Story:
    """One journey's events, each the status after one change, numbered from 1."""

    def __init__(
        self, number: int, epci_id: int, booklet: int, start: int = 0, reception: int = 9
    ) -> None:
        """Referred `start` days after T0 by reception structure `reception`."""
        jid = f"00000000-0000-4000-8000-{number:012d}"
        referred = T0 + timedelta(days=start)
        self.status = JourneyStatus(
            journey_id=jid,
            programme_code=PROGRAMME,
            epci_id=epci_id,
            reception_structure_id=reception,
            referrer=SW,
            stage=Stage.REFERRED,
            stage_dates={Stage.REFERRED: referred},
            last_activity_at=referred,
        )
        self.booklet = booklet
        self.events: list[JourneyEvent] = []
        self.day = start
        self._event(Action.REFERRED, None)

    def _event(self, action: Action, from_stage: Stage | None) -> JourneyEvent:
        self.day += 1
        at = T0 + timedelta(days=self.day)
        self.status.seq += 1
        self.status.last_activity_at = at
        self.status.stage_dates.setdefault(self.status.stage, at)
        event = JourneyEvent(
            journey_id=self.status.journey_id,
            seq=self.status.seq,
            at=at,
            actor=SW,
            action=action,
            from_stage=from_stage,
            to_stage=self.status.stage,
            status=copy.deepcopy(self.status),
        )
        self.events.append(event)
        return event

    def to(self, stage: Stage, action: Action, **changes: Any) -> Story:
        before = self.status.stage
        self.status.stage = stage
        for k, v in changes.items():
            setattr(self.status, k, v)
        self._event(action, before)
        return self

    def booklet_issued(self) -> Story:
        self.status.millesime, self.status.booklet_number = 2026, self.booklet
        self.status.cheques = [
            ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
            for s in booklet_serials(PROGRAMME, 2026, self.booklet, 10)
        ]
        return self.to(Stage.BOOKLET_ISSUED, Action.BOOKLET_ISSUED)

    def oriented(self, structure: int, action: Action = Action.ORIENTED) -> Story:
        self.status.orientation = OrientationState(
            f"{self.status.journey_id}-{structure}",
            structure,
            OrientationStatus.PENDING,
            T0 + timedelta(days=self.day),
        )
        return self.to(Stage.ORIENTED, action)

    def session(self, day_offset: int) -> Story:
        """A session `day_offset` days after the referral, paid with the next cheque."""
        cheque = next(c for c in self.status.cheques if c.status == ChequeStatus.ISSUED)
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.status.journey_id}/{self.day}"))
        cheque.status, cheque.session_id = ChequeStatus.REDEEMED, sid
        cheque.redeemed_on, cheque.mediation_structure_id = date(2026, 3, 2), 5
        self.status.sessions.append(
            SessionState(
                sid,
                5,
                T0.date() + timedelta(days=day_offset),
                120,
                SessionKind.INDIVIDUAL,
                SessionPlace.ON_SITE,
                [Theme.EMAIL],
                [],
                None,
                [cheque.serial],
                T0 + timedelta(days=self.day),
            )
        )
        self.status.mediation_structure_id = 5
        return self.to(Stage.IN_TRAINING, Action.SESSION_LOGGED)

    def stalled(self, yes: bool) -> Story:
        at = T0 + timedelta(days=self.day)
        return self.to(
            self.status.stage,
            Action.STALLED if yes else Action.NUDGED,
            stalled=yes,
            stalled_since=at if yes else None,
            stalled_reason="Aucune séance" if yes else None,
        )

    def closed(self, outcome: Outcome) -> Story:
        left = {
            Outcome.EXPIRED: ChequeStatus.EXPIRED,
            Outcome.WITHDRAWN: ChequeStatus.CANCELLED,
            Outcome.COMPLETED: ChequeStatus.CANCELLED,
        }[outcome]
        for c in self.status.cheques:
            if c.status == ChequeStatus.ISSUED:
                c.status = left
        self.status.closed_at = T0 + timedelta(days=self.day + 1)
        action = Action.WITHDRAWN if outcome == Outcome.WITHDRAWN else Action.CLOSED
        return self.to(Stage.CLOSED, action, outcome=outcome, stalled=False, stalled_since=None)


def stories(e1: int, e2: int) -> list[Story]:
    a = Story(1, e1, 101).to(Stage.ASSESSED, Action.ASSESSED).booklet_issued()
    a.oriented(5).oriented(6, Action.REORIENTED).oriented(5, Action.REORIENTED)
    a.session(8).session(15).stalled(True).stalled(False).session(30)
    a.closed(Outcome.COMPLETED)
    b = Story(2, e1, 102).to(Stage.ASSESSED, Action.ASSESSED).booklet_issued()
    b.session(12).session(19).stalled(True).closed(Outcome.EXPIRED)
    c = Story(3, e2, 103, start=40, reception=11).stalled(True).closed(Outcome.WITHDRAWN)
    d = Story(4, e2, 104).booklet_issued().oriented(5).session(20).closed(Outcome.WITHDRAWN)
    d.to(Stage.ANONYMISED, Action.ANONYMISED)
    e = Story(5, e2, 105).booklet_issued().session(8).stalled(True)  # left open, stalled
    f = Story(6, e1, 106, start=70).to(Stage.ASSESSED, Action.ASSESSED)
    return [a, b, c, d, e, f]


def counters(s: Session) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The counter tables of every level (rows counting nothing left out) and their full
    recount, each as {(table, key): sums}."""
    kept: dict[Any, Any] = {}
    recount: dict[Any, Any] = {}
    for level in overview_counts.LEVELS:
        for table, width, query in (
            (level.counts, len(level.count_key), overview_counts.recount_query(level)),
            (
                level.first_sessions,
                len(level.first_session_key),
                overview_counts.first_session_recount_query(level),
            ),
        ):
            for r in s.execute(select(table)):
                if any(r[width:]):
                    kept[(table.name, tuple(r[:width]))] = tuple(r[width:])
            for r in s.execute(query):
                recount[(table.name, tuple(r[:width]))] = tuple(r[width:])
    return kept, recount


def total(kept: dict[Any, Any], table: str) -> int:
    """Journeys counted by one counter table."""
    return sum(sums[0] for (name, _), sums in kept.items() if name == table)


def _kept(r: Any, f: coordination.OverviewFilter) -> bool:
    """Whether journey row `r` passes the overview's filter `f` (written from the rows)."""
    month = r.referred_month or 0
    return (
        all(
            getattr(f, name) is None or (getattr(r, name) or 0) == getattr(f, name)
            for name in ("epci_id", "reception_structure_id", "mediation_structure_id", "millesime")
        )
        and (f.from_month is None or month >= f.from_month)
        and (f.to_month is None or 0 < month <= f.to_month)
    )


def scanned_overview(
    s: Session, epci_id: int | None, f: coordination.OverviewFilter | None = None
) -> dict[str, Any]:
    """The overview's figures computed from the journey rows themselves."""
    rows = [
        r
        for r in s.execute(select(_JOURNEY).where(_JOURNEY.c.programme_code == PROGRAMME))
        if (epci_id is None or r.epci_id == epci_id) and (f is None or _kept(r, f))
    ]
    by_stage: dict[str, int] = {}
    for r in rows:
        by_stage[r.stage] = by_stage.get(r.stage, 0) + 1
    days = [r.days_to_first_session for r in rows if r.days_to_first_session is not None]
    return {
        "by_stage": by_stage,
        "stalled": sum(1 for r in rows if r.stalled),
        "issued": sum(r.cheques_total for r in rows),
        "redeemed": sum(r.cheques_redeemed for r in rows),
        "expired": sum(
            r.cheques_total - r.cheques_redeemed for r in rows if r.outcome == Outcome.EXPIRED
        ),
        "median": statistics.median(days) if days else None,
        "with_session": len(days),
        "booklets": sum(1 for r in rows if r.millesime),
    }


def read_overview(
    s: Session, epci_id: int | None, f: coordination.OverviewFilter | None = None
) -> dict[str, Any]:
    programme = queries.get_programme(s, PROGRAMME)
    assert programme is not None
    scope = JourneyScope(everything=True) if epci_id is None else JourneyScope(epci_id=epci_id)
    o = coordination.programme_overview(s, programme, scope, f or coordination.OverviewFilter())
    assert sum(e.total for e in o.epci) == o.total
    return {
        "by_stage": o.by_stage,
        "stalled": o.stalled,
        "issued": o.cheques_issued,
        "redeemed": o.cheques_redeemed,
        "expired": o.cheques_expired,
        "median": o.median_days_to_first_session,
        "with_session": o.journeys_with_session,
        "booklets": o.booklets,
    }


def two_epci(sessions: SessionFactory) -> tuple[int, int]:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
        e1, e2 = s.execute(text("SELECT id FROM epci ORDER BY id LIMIT 2")).scalars().all()
    return int(e1), int(e2)


def test_counters_equal_a_recount_after_every_event(sessions: SessionFactory) -> None:
    e1, e2 = two_epci(sessions)
    all_stories = stories(e1, e2)
    # Interleave the journeys, as live workflows would.
    queue = [ev for step in range(30) for st in all_stories for ev in st.events[step : step + 1]]
    skipped = all_stories[4].events[2]  # journey e: seq 3 comes after seq 4, late
    queue.remove(skipped)
    queue.insert(queue.index(all_stories[4].events[3]) + 1, skipped)
    wrote = 0
    for event in queue:
        for attempt in range(2):  # every event recorded twice: the retry writes nothing
            with sessions() as s:
                done = record_journey_event(s, event)
                s.commit()
            assert done is (attempt == 0)
            wrote += done
        with sessions() as s:
            kept, recount = counters(s)
            assert kept == recount, (event.journey_id, event.seq, event.action)
    assert wrote == len(queue)

    with sessions() as s:
        kept, _ = counters(s)
        for epci_id in (None, e1, e2):
            assert read_overview(s, epci_id) == scanned_overview(s, epci_id)
        # The figures themselves, so that a recount agreeing with wrong counters shows.
        overall = read_overview(s, None)
        assert overall["by_stage"] == {
            "CLOSED": 3,
            "ANONYMISED": 1,
            "IN_TRAINING": 1,
            "ASSESSED": 1,
        }
        # a: 3 spent (7 cancelled); b: 10 (2 spent, 8 expired); d: 1 spent; e: 10 (1 spent)
        assert (overall["issued"], overall["redeemed"], overall["expired"]) == (24, 7, 8)
        assert overall["stalled"] == 1 and overall["with_session"] == 4
        assert overall["median"] == 10  # 8, 8, 12, 20
        assert read_overview(s, e2)["median"] == 14  # 8 and 20
        # Rows whose journeys all moved on stay, counting nothing; the overview skips them.
        assert (
            s.execute(text("SELECT count(*) FROM overview_count WHERE journeys = 0")).scalar_one()
            > 0
        )


def test_every_filter_of_the_overview_agrees_with_a_scan_of_the_journeys(
    sessions: SessionFactory,
) -> None:
    e1, e2 = two_epci(sessions)
    with sessions() as s:
        for st in stories(e1, e2):
            for event in st.events:
                record_journey_event(s, event)
        s.commit()
        rows = s.execute(select(_JOURNEY)).all()
        assert len({r.referred_month for r in rows}) > 1 and len({r.millesime for r in rows}) > 1
        months = sorted({r.referred_month for r in rows if r.referred_month})
        F = coordination.OverviewFilter
        filters = [
            *(F(epci_id=e) for e in (e1, e2)),
            *(F(reception_structure_id=r.reception_structure_id) for r in rows),
            *(F(mediation_structure_id=r.mediation_structure_id or 0) for r in rows),
            *(F(millesime=m) for m in (0, *{r.millesime for r in rows if r.millesime})),
            *(F(from_month=m) for m in months),
            *(F(to_month=m) for m in months),
            F(from_month=months[0], to_month=months[0], epci_id=e1),
        ]
        for f in filters:
            for epci_id in (None, e1):
                assert read_overview(s, epci_id, f) == scanned_overview(s, epci_id, f), f
        assert read_overview(s, None, F(millesime=1999))["by_stage"] == {}


def test_rebuild_recounts_rows_written_in_bulk(sessions: SessionFactory) -> None:
    e1, e2 = two_epci(sessions)
    with sessions() as s:
        for st in stories(e1, e2):
            for event in st.events:
                record_journey_event(s, event)
        s.commit()  # every journey's whole story in one transaction, summed at commit
        kept, recount = counters(s)
        assert kept == recount
        s.execute(text("DELETE FROM overview_first_session"))
        s.execute(text("UPDATE overview_count SET journeys = journeys + 5"))
        kept, recount = counters(s)
        assert kept != recount
        overview_counts.rebuild(s)
        s.commit()
        kept, recount = counters(s)
        assert kept == recount and recount


def test_migration_0006_backfills_the_counters(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0005")
    engine = make_engine(empty_database_url)
    try:
        rows = [
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "workflow_id": f"journey-{i}",
                "programme_code": PROGRAMME,
                "epci_id": 1 + i % 3,
                "reception_structure_id": 9,
                "referrer_role": "SOCIAL_WORKER",
                "referrer_ref": "1",
                "stage": ["REFERRED", "IN_TRAINING", "CLOSED"][i % 4 % 3],
                "outcome": "EXPIRED" if i % 4 == 2 else None,
                "stalled": i % 5 == 0,
                "cheques_total": 10 * (i % 2),
                "cheques_redeemed": i % 2 * (i % 7),
                "sessions_count": 0,
                "days_to_first_session": None if i % 3 == 0 else i % 11,
                "last_seq": 1,
                "updated_at": T0,
            }
            for i in range(60)
        ]
        with engine.begin() as conn:
            conn.execute(insert(_JOURNEY), rows)
        command.upgrade(config, "head")
        with session_factory(engine)() as s:
            kept, recount = counters(s)
            assert kept == recount
            assert total(kept, "overview_count") == total(kept, "overview_total") == 60
            assert total(kept, "overview_first_session") == 40
    finally:
        engine.dispose()


def test_an_unseen_scope_is_refused(sessions: SessionFactory) -> None:
    two_epci(sessions)
    with sessions() as s:
        programme = queries.get_programme(s, PROGRAMME)
        assert programme is not None
        with pytest.raises(ValueError, match="EPCI"):
            coordination.programme_overview(s, programme, JourneyScope(reception_structure_id=1))


def test_a_rolled_back_transaction_counts_nothing(sessions: SessionFactory) -> None:
    e1, e2 = two_epci(sessions)
    a, b = stories(e1, e2)[:2]
    with sessions() as s:
        record_journey_event(s, a.events[0])
        s.rollback()  # the differences counted for it go with it
        record_journey_event(s, b.events[0])
        s.commit()
        kept, recount = counters(s)
        assert kept == recount and total(kept, "overview_count") == 1
    with sessions() as s:
        record_journey_event(s, a.events[0])
    # closed without commit: the next transaction of another session starts clean
    with sessions() as s:
        for event in b.events[1:4]:
            record_journey_event(s, event)
        s.commit()
        kept, recount = counters(s)
        assert kept == recount
