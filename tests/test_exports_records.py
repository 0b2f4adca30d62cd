"""The exports' rows (journeys, cheques, sessions, statements, ledger entries) and the
programme report's figures (records/exports.py,
records/programme_report.py) on SQLite and PostgreSQL, over a few hundred journeys
written as rows (bench/programme_rows.py): each filter and scope selects the journeys an
independent reading of the rows selects, and the overview counts; the report's figures add
up to the overview's."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from bench.programme_rows import NOW, write_programme
from domain.months import next_month
from domain.serials import parse_serial
from domain.stages import ChequeStatus
from domain.validity import paris_day
from records import exports, programme_report
from records.coordination import OverviewFilter, programme_overview
from records.db import SessionFactory, begin_write
from records.models import (
    Cheque,
    Journey,
    LedgerEntry,
    MediationStructure,
    Programme,
    Statement,
    TrainingSession,
)
from records.queries import JourneyScope
from records.seed import seed_default_programme
from records.statements import build_statements

JOURNEYS = 240
EVERYTHING = JourneyScope(everything=True)


@pytest.fixture
def programme_rows(engine: Engine, sessions: SessionFactory) -> SessionFactory:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    write_programme(engine, JOURNEYS, seed=3)
    return sessions


def _ctx(s: Any, scope: JourneyScope, filters: OverviewFilter) -> exports.ExportContext:
    programme = s.exec(select(Programme)).one()
    return exports.ExportContext.read(s, programme, scope, filters)


def _selected(journeys: list[Journey], scope: JourneyScope, f: OverviewFilter) -> set[str]:
    """The journeys `scope` and `f` select, read off the rows one by one."""

    def keep(j: Journey) -> bool:
        month = j.referred_month or 0
        return (
            scope.contains(j)
            and (f.epci_id is None or j.epci_id == f.epci_id)
            and (
                f.reception_structure_id is None
                or j.reception_structure_id == f.reception_structure_id
            )
            and (
                f.mediation_structure_id is None
                or j.mediation_structure_id == f.mediation_structure_id
            )
            and (f.millesime is None or (j.millesime or 0) == f.millesime)
            and (f.from_month is None or month >= f.from_month)
            and (f.to_month is None or 0 < month <= f.to_month)
        )

    return {j.id for j in journeys if keep(j)}


def _cases(journeys: list[Journey]) -> list[tuple[JourneyScope, OverviewFilter]]:
    by_epci = Counter(j.epci_id for j in journeys)
    epci, other = (e for e, _ in by_epci.most_common(2))
    reception = Counter(j.reception_structure_id for j in journeys).most_common(1)[0][0]
    mediation = Counter(
        j.mediation_structure_id for j in journeys if j.mediation_structure_id
    ).most_common(1)[0][0]
    return [
        (EVERYTHING, OverviewFilter()),
        (EVERYTHING, OverviewFilter(epci_id=epci)),
        (EVERYTHING, OverviewFilter(reception_structure_id=reception)),
        (EVERYTHING, OverviewFilter(mediation_structure_id=mediation)),
        (EVERYTHING, OverviewFilter(millesime=0)),
        (EVERYTHING, OverviewFilter(millesime=2025)),
        (EVERYTHING, OverviewFilter(from_month=202507, to_month=202603)),
        (EVERYTHING, OverviewFilter(to_month=202512, millesime=2025)),
        (JourneyScope(epci_id=epci), OverviewFilter()),
        # An EPCI's scope and a filter on another EPCI: nothing (the scope wins).
        (JourneyScope(epci_id=epci), OverviewFilter(epci_id=other)),
        (JourneyScope(epci_id=epci), OverviewFilter(millesime=2026, from_month=202601)),
    ]


def test_rows_follow_scope_and_filters(programme_rows: SessionFactory) -> None:
    with programme_rows() as s:
        journeys = list(s.exec(select(Journey)).all())
        cheques = list(s.exec(select(Cheque)).all())
        trainings = list(s.exec(select(TrainingSession)).all())
        programme = s.exec(select(Programme)).one()
        assert len(journeys) == JOURNEYS
        for scope, f in _cases(journeys):
            ctx = _ctx(s, scope, f)
            wanted = _selected(journeys, scope, f)
            rows = list(exports.journey_rows(s, ctx))
            assert [r[0] for r in rows if r[0] not in wanted] == [], (scope, f)
            assert len(rows) == len(wanted) == len({r[0] for r in rows}), (scope, f)
            if scope.epci_id is not None or f.epci_id is None:
                overview = programme_overview(s, programme, scope, f)
                assert overview.total == len(rows), (scope, f)
            names = ctx.names
            if scope.epci_id is not None:
                assert {r[1] for r in rows} <= {names.epci[scope.epci_id]}
            cheque_rows = list(exports.cheque_rows(s, ctx))
            assert sorted(str(r[8]) for r in cheque_rows) == sorted(
                c.journey_id for c in cheques if c.journey_id in wanted
            ), (scope, f)
            session_rows = list(exports.session_rows(s, ctx))
            assert sorted(str(r[10]) for r in session_rows) == sorted(
                t.journey_id for t in trainings if t.journey_id in wanted
            ), (scope, f)
            days = [r[0] for r in session_rows]
            assert all(isinstance(d, date) for d in days)
            assert days == sorted(d for d in days if isinstance(d, date))


def test_rows_say_what_the_records_hold(programme_rows: SessionFactory) -> None:
    with programme_rows() as s:
        ctx = _ctx(s, EVERYTHING, OverviewFilter())
        by_id = {j.id: j for j in s.exec(select(Journey)).all()}
        rows = list(exports.journey_rows(s, ctx))
        headers = [c.header for c in exports.JOURNEY_COLUMNS]
        assert all(len(r) == len(headers) for r in rows)
        referred = [r[headers.index("Entrée dans le dispositif")] for r in rows]
        assert referred == sorted(d for d in referred if isinstance(d, date))  # entry order
        for r in rows:
            j = by_id[str(r[0])]
            row = dict(zip(headers, r, strict=True))
            assert row["Intercommunalité"] == ctx.names.epci[j.epci_id]
            assert row["Diagnostic"] == (paris_day(j.assessed_at) if j.assessed_at else None)
            assert row["Chèques utilisés"] == j.cheques_redeemed
            assert row["Montant utilisé (€)"] == j.cheques_redeemed * 1000
            assert row["Bloqué"] is j.stalled
            assert row["Millésime"] == j.millesime
        cheque = next(r for r in exports.cheque_rows(s, ctx) if r[3] == ChequeStatus.REDEEMED.label)
        assert isinstance(cheque[4], date) and cheque[5]  # redeemed on, where
        stored = s.exec(
            select(Cheque).where(col(Cheque.serial) == str(cheque[0]).replace("-", ""))
        ).one()
        assert cheque[0] == parse_serial(stored.serial).display
        assert cheque[6] == date(stored.millesime + 1, 1, 31)
        assert cheque[7] == 1000


def test_report_figures_add_up_to_the_overview(programme_rows: SessionFactory) -> None:
    with programme_rows() as s:
        programme = s.exec(select(Programme)).one()
        journeys = list(s.exec(select(Journey)).all())
        for scope, f in _cases(journeys):
            if scope.epci_id is not None and f.epci_id is not None:
                continue
            ctx = _ctx(s, scope, f)
            overview = programme_overview(s, programme, scope, f)
            figures = programme_report.report_figures(s, ctx)
            assert figures.funnel[0].journeys == overview.total
            steps = [step.journeys for step in figures.funnel]
            assert steps[:5] == sorted(steps[:5], reverse=True)  # a funnel
            assert figures.funnel[2].journeys == overview.booklets
            assert sum(m.issued for m in figures.months) == overview.cheques_issued, f
            assert sum(m.spent for m in figures.months) == overview.cheques_redeemed, f
            assert sum(m.expired for m in figures.months) == overview.cheques_expired, f
            assert sum(e.journeys for e in figures.epci) == overview.total
            assert sum(e.cheques_spent for e in figures.epci) == overview.cheques_redeemed
            impact = figures.impact
            assert impact.with_booklet == overview.booklets
            assert impact.sessions == sum(k * n for k, n in impact.sessions_histogram.items())
            wanted = _selected(journeys, scope, f)
            exit_assessed = [j for j in journeys if j.id in wanted and j.exit_autonomy]
            assert sum(impact.exit.values()) == len(exit_assessed)
            assert impact.progressed + impact.unchanged + impact.regressed == impact.both
            if impact.sessions_histogram:
                values = sorted(
                    j.sessions_count for j in journeys if j.id in wanted and j.millesime
                )
                n = len(values)
                assert (
                    impact.sessions_per_person_median == (values[(n - 1) // 2] + values[n // 2]) / 2
                )


def test_statement_and_ledger_rows(programme_rows: SessionFactory) -> None:
    with programme_rows() as s:
        begin_write(s)
        month = date(2025, 1, 1)
        while month <= date(2026, 11, 1):
            build_statements(s, month=month, at=NOW)
            month = next_month(month)
        s.commit()
        statements = list(s.exec(select(Statement)).all())
        structures = {m.id: m.epci_id for m in s.exec(select(MediationStructure)).all()}
        entries = list(s.exec(select(LedgerEntry)).all())
        cheques = {c.serial: c for c in s.exec(select(Cheque)).all()}
        journeys = {j.id: j for j in s.exec(select(Journey)).all()}
        spent = sum(1 for c in cheques.values() if c.status == ChequeStatus.REDEEMED)
        assert statements and entries

        ctx = _ctx(s, EVERYTHING, OverviewFilter())
        rows = list(exports.statement_rows(s, ctx))
        assert sorted(str(r[0]) for r in rows) == sorted(st.number for st in statements)
        assert sum(r[6] for r in rows if isinstance(r[6], int)) == spent * 1000  # each once
        assert {r[4] for r in rows} == {"Brouillon"}
        epci = Counter(structures[st.mediation_structure_id] for st in statements).most_common(1)[
            0
        ][0]
        for scope, f, keep in (
            (
                JourneyScope(epci_id=epci),
                OverviewFilter(),
                lambda st: structures[st.mediation_structure_id] == epci,
            ),
            (
                EVERYTHING,
                OverviewFilter(epci_id=epci),
                lambda st: structures[st.mediation_structure_id] == epci,
            ),
            (
                EVERYTHING,
                OverviewFilter(mediation_structure_id=statements[0].mediation_structure_id),
                lambda st: st.mediation_structure_id == statements[0].mediation_structure_id,
            ),
            (
                EVERYTHING,
                OverviewFilter(from_month=202603, to_month=202605),
                lambda st: date(2026, 3, 1) <= st.month <= date(2026, 5, 1),
            ),
            # Journey filters do not choose statements.
            (EVERYTHING, OverviewFilter(millesime=0), lambda st: True),
        ):
            rows = list(exports.statement_rows(s, _ctx(s, scope, f)))
            assert sorted(str(r[0]) for r in rows) == sorted(
                st.number for st in statements if keep(st)
            ), (scope, f)

        rows = list(exports.ledger_rows(s, ctx))
        assert len(rows) == len(entries)
        by_kind: Counter[str] = Counter()
        for r in rows:
            by_kind[str(r[2])] += r[5] if isinstance(r[5], int) else 0
        assert by_kind["Dépense (chèque encaissé)"] == spent * 1000  # to the cent
        assert by_kind["Engagement (chèque émis)"] == len(cheques) * 1000
        dates = [r[0] for r in rows]
        assert dates == sorted(d for d in dates if isinstance(d, date))
        for scope, f in _cases(list(journeys.values())):
            wanted = _selected(list(journeys.values()), scope, f)
            rows = list(exports.ledger_rows(s, _ctx(s, scope, f)))
            assert len(rows) == sum(1 for e in entries if cheques[e.serial].journey_id in wanted), (
                scope,
                f,
            )
            assert {str(r[7]) for r in rows} <= wanted
