"""Two programmes in one database (Aveyron 12 and Hérault 34, written as rows by
bench/programme_rows.py): every list, overview and export query of records/ asked for
programme 12 returns programme 12's rows only, and counts them only, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bench.programme_rows import NOW, write_programme
from bench.programmes import herault
from domain.stages import ChequeStatus
from domain.validity import valid_until
from records import exports, ledger, overview_counts, programme_report, queries
from records.coordination import (
    EXPIRING_DAYS,
    OverviewFilter,
    StalledFilter,
    expiring_cheques,
    programme_overview,
    stalled_journeys,
)
from records.db import SessionFactory
from records.models import Cheque, Journey, LedgerEntry, Programme, TrainingSession
from records.queries import JourneyScope
from records.seed import load_programme_file, seed_programme

JOURNEYS = 150
EVERYTHING = JourneyScope(everything=True)


@pytest.fixture
def two_programmes(engine: Engine, sessions: SessionFactory) -> SessionFactory:
    with sessions() as s:
        seed_programme(s, load_programme_file())
        seed_programme(s, herault())
        s.commit()
    write_programme(engine, JOURNEYS, seed=3, with_people=True, programme=12)
    write_programme(engine, JOURNEYS, seed=4, with_people=True, programme=34)
    return sessions


def _ids(s: Session, code: int) -> set[str]:
    return set(s.exec(select(Journey.id).where(Journey.programme_code == code)).all())


def _programme(s: Session, code: int) -> Programme:
    return s.exec(select(Programme).where(Programme.code == code)).one()


def test_both_programmes_are_written(two_programmes: SessionFactory) -> None:
    with two_programmes() as s:
        mine, theirs = _ids(s, 12), _ids(s, 34)
        assert len(mine) == len(theirs) == JOURNEYS and not mine & theirs
        # The structures too are each programme's own.
        epci = {code: {j.epci_id for j in _journeys(s, code)} for code in (12, 34)}
        assert epci[12] and epci[34] and not epci[12] & epci[34]


def test_journey_lists_hold_one_programme(two_programmes: SessionFactory) -> None:
    with two_programmes() as s:
        mine = _ids(s, 12)
        rows, total = queries.list_journeys(s, programme_code=12, scope=EVERYTHING, limit=200)
        assert total == JOURNEYS and {j.id for j in rows} == mine
        stage = Counter(j.stage for j in rows).most_common(1)[0][0]
        rows, total = queries.list_journeys(
            s, programme_code=12, stage=stage, scope=EVERYTHING, limit=200
        )
        assert total == sum(1 for j in _journeys(s, 12) if j.stage == stage) == len(rows)
        assert {j.id for j in rows} <= mine
        counts = queries.journey_stage_counts(s, programme_code=12, scope=EVERYTHING)
        assert sum(counts.values()) == JOURNEYS
        # Every first name has an "e": all of programme 12's, none of 34's.
        rows, total = queries.journeys_by_person_name(
            s, programme_code=12, text="e", scope=EVERYTHING, limit=200
        )
        assert total == JOURNEYS and {j.id for j in rows} == mine
        rows, total = stalled_journeys(
            s, programme_code=12, scope=EVERYTHING, filters=StalledFilter(), limit=200
        )
        stalled = {j.id for j in _journeys(s, 12) if j.stalled}
        assert stalled and total == len(stalled) and {j.id for j in rows} == stalled


def test_trainees_and_their_last_sessions(two_programmes: SessionFactory) -> None:
    """A mediation structure's trainees: its journeys, each with the day of its last
    session (read per journey, not grouped over every programme's sessions)."""
    with two_programmes() as s:
        trained = [j for j in _journeys(s, 12) if j.mediation_structure_id]
        structure = Counter(j.mediation_structure_id for j in trained).most_common(1)[0][0]
        assert structure is not None
        mine = {j.id for j in trained if j.mediation_structure_id == structure}
        rows, total = queries.mediation_trainees(
            s, programme_code=12, mediation_structure_id=structure, limit=200
        )
        assert total == len(mine) == len(rows) and {r.journey_id for r in rows} == mine
        last = dict(
            s.exec(
                select(TrainingSession.journey_id, func.max(TrainingSession.day)).group_by(
                    col(TrainingSession.journey_id)
                )
            ).all()
        )
        assert any(r.last_session_day for r in rows)
        assert all(r.last_session_day == last.get(r.journey_id) for r in rows)
        # Programme 34's structures train none of programme 12's journeys.
        theirs = {j.mediation_structure_id for j in _journeys(s, 34)}
        assert len(theirs - {None}) > 1
        for other in theirs - {None}:
            assert other is not None and queries.mediation_trainees(
                s, programme_code=12, mediation_structure_id=other
            ) == ([], 0)


def _journeys(s: Session, code: int) -> list[Journey]:
    return list(s.exec(select(Journey).where(Journey.programme_code == code)).all())


def test_overview_counts_one_programme(two_programmes: SessionFactory) -> None:
    with two_programmes() as s:
        overview_counts.rebuild(s)  # as written; recounted over both programmes
        programme = _programme(s, 12)
        journeys = _journeys(s, 12)
        o = programme_overview(s, programme, EVERYTHING)
        assert o.total == JOURNEYS
        assert o.cheques_issued == sum(j.cheques_total for j in journeys)
        assert o.cheques_redeemed == sum(j.cheques_redeemed for j in journeys)
        assert {e.epci_id for e in o.epci} == {j.epci_id for j in journeys}
        month = Counter(j.referred_month for j in journeys).most_common(1)[0][0]
        filtered = programme_overview(
            s, programme, EVERYTHING, OverviewFilter(from_month=month, to_month=month)
        )
        assert filtered.total == sum(1 for j in journeys if j.referred_month == month)
        # Ten days before the 2026 booklets' end: their unspent cheques, programme 12's only.
        now = valid_until(2026, programme.grace_months) - timedelta(days=10)
        expiring = expiring_cheques(s, 12, EVERYTHING, now)
        unspent = {
            code: s.exec(
                select(func.count())
                .select_from(Cheque)
                .where(
                    Cheque.programme_code == code,
                    Cheque.status == ChequeStatus.ISSUED.value,
                    col(Cheque.valid_until) > now,
                    col(Cheque.valid_until) <= now + timedelta(days=EXPIRING_DAYS),
                )
            ).one()
            for code in (12, 34)
        }
        assert unspent[12] and unspent[34] and expiring.cheques == unspent[12]
        funded = ledger.ledger_view(s, programme, epci_id=None, today=NOW.date())
        issued = s.exec(
            select(func.count()).select_from(Cheque).where(Cheque.programme_code == 12)
        ).one()
        assert funded.total.committed == issued * programme.cheque_value_cents


def test_exports_hold_one_programme(two_programmes: SessionFactory) -> None:
    with two_programmes() as s:
        programme = _programme(s, 12)
        ctx = exports.ExportContext.read(s, programme, EVERYTHING, OverviewFilter())
        assert sum(1 for _ in exports.journey_rows(s, ctx)) == JOURNEYS
        cheques = s.exec(
            select(func.count()).select_from(Cheque).where(Cheque.programme_code == 12)
        ).one()
        assert sum(1 for _ in exports.cheque_rows(s, ctx)) == cheques
        entries = s.exec(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.programme_code == 12)
        ).one()
        assert entries and sum(1 for _ in exports.ledger_rows(s, ctx)) == entries
        rows, total = ledger.list_entries(s, programme_code=12, limit=10_000)
        assert total == entries == len(rows)
        assert all(r.serial.startswith("012") for r in rows)
        # The report's funnel starts with every journey that entered the programme.
        assert programme_report.report_figures(s, ctx).funnel[0].journeys == JOURNEYS
