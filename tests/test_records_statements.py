"""Reimbursement statements in the records, on SQLite and PostgreSQL: the monthly build
(idempotent, one cheque in one statement, late entries), validation, payment (cheques
REIMBURSED) and the projection never turning a reimbursed cheque back."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain.contracts import ChequeState, JourneyEvent
from domain.refusals import RefusalKind
from domain.stages import ChequeStatus
from domain.statements import StatementStatus
from records.db import SessionFactory, begin_write
from records.models import Cheque, Statement, StatementLine
from records.seed import seed_default_programme
from records.statements import (
    StatementFilter,
    StatementRefused,
    StatementScope,
    build_statements,
    get_statement,
    list_statements,
    record_payment,
    statement_lines,
    validate,
)
from tests.fixtures.statements import add_redeemed, qualified_structures
from tests.test_activities_journey_records import (
    SERIALS,
    record,
    referral_event,
    training_event,
)

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)
BUILT = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 06:00 in Paris
LATER = BUILT + timedelta(days=3)


@pytest.fixture
def seeded(sessions: SessionFactory) -> SessionFactory:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    return sessions


def _build(sessions: SessionFactory, month: date, at: datetime = BUILT, **kw: object):  # type: ignore[no-untyped-def]
    with sessions() as s:
        begin_write(s)
        report = build_statements(s, month=month, at=at, **kw)  # type: ignore[arg-type]
        s.commit()
        return report


def _statements(sessions: SessionFactory) -> list[Statement]:
    with sessions() as s:
        return list(s.exec(select(Statement).order_by(Statement.number)).all())


def _lines(sessions: SessionFactory, statement_id: int | None) -> list[str]:
    assert statement_id is not None
    with sessions() as s:
        return [line.serial for line in statement_lines(s, statement_id)]


def test_the_build_makes_one_draft_per_structure_and_runs_again_for_nothing(
    seeded: SessionFactory,
) -> None:
    with seeded() as s:
        a, b, idle = qualified_structures(s, 3)
        first = add_redeemed(s, a, [date(2026, 11, 3), date(2026, 11, 30), date(2026, 12, 1)])
        second = add_redeemed(s, b, [date(2026, 11, 15)])
        older = add_redeemed(s, b, [date(2026, 10, 31)])  # never built before: taken now
        s.commit()

    report = _build(seeded, NOV)
    assert (report.created, report.updated, report.cheques, report.amount_cents) == (
        2,
        0,
        4,
        4000,
    )
    by_structure = {st.mediation_structure_id: st for st in _statements(seeded)}
    assert set(by_structure) == {a, b} and idle not in by_structure  # nothing: no statement
    sa, sb = by_structure[a], by_structure[b]
    assert [sa.number, sb.number] == ["RB-2026-11-0001", "RB-2026-11-0002"]
    assert (sa.status, sa.month, sa.cheque_count, sa.total_cents) == ("DRAFT", NOV, 2, 2000)
    assert sa.issuer_name and sa.built_at == BUILT
    assert _lines(seeded, sa.id) == first[:2]  # December's cheque waits for December
    assert _lines(seeded, sb.id) == [older[0], second[0]]  # by session day

    again = _build(seeded, NOV, at=LATER)  # a retried activity, a Schedule fired twice
    assert (again.created, again.updated, again.cheques) == (0, 0, 0)
    assert [(st.id, st.cheque_count, st.updated_at) for st in _statements(seeded)] == [
        (sa.id, 2, BUILT),
        (sb.id, 2, BUILT),
    ]

    december = _build(seeded, DEC)
    assert (december.created, december.cheques) == (1, 1)
    (dec,) = [st for st in _statements(seeded) if st.month == DEC]
    assert dec.number == "RB-2026-12-0001" and _lines(seeded, dec.id) == [first[2]]


def test_a_cheque_is_in_one_statement_only(seeded: SessionFactory) -> None:
    with seeded() as s:
        (a,) = qualified_structures(s, 1)
        (serial,) = add_redeemed(s, a, [date(2026, 11, 3)])
        s.commit()
    _build(seeded, NOV)
    (st,) = _statements(seeded)
    assert st.id is not None
    with seeded() as s, pytest.raises(IntegrityError):
        s.add(
            StatementLine(
                statement_id=st.id,
                serial=serial,
                session_day=NOV,
                amount_cents=1000,
                added_at=BUILT,
            )
        )
        s.commit()
    # Any later month's build leaves it where it is.
    assert _build(seeded, DEC).cheques == 0
    with seeded() as s:
        assert len(s.exec(select(StatementLine)).all()) == 1


def test_late_entries_join_a_draft_or_wait_for_the_next_statement(seeded: SessionFactory) -> None:
    with seeded() as s:
        (a,) = qualified_structures(s, 1)
        add_redeemed(s, a, [date(2026, 11, 3)])
        s.commit()
    _build(seeded, NOV)
    (draft,) = _statements(seeded)

    # A session of 28 November logged on 2 December: the draft takes it when built again.
    with seeded() as s:
        (late,) = add_redeemed(s, a, [date(2026, 11, 28)])
        s.commit()
    report = _build(seeded, NOV, at=LATER, mediation_structure_id=a)
    assert (report.created, report.updated, report.cheques) == (0, 1, 1)
    (draft,) = _statements(seeded)
    assert (draft.cheque_count, draft.total_cents, draft.updated_at) == (2, 2000, LATER)
    assert late in _lines(seeded, draft.id)

    with seeded() as s:
        begin_write(s)
        row = s.get(Statement, draft.id)
        assert row is not None
        validate(s, row, account_id=1, at=LATER)
        s.commit()
    # Another late one after validation: November's statement takes nothing more ...
    with seeded() as s:
        (later,) = add_redeemed(s, a, [date(2026, 11, 29)])
        s.commit()
    assert _build(seeded, NOV, at=LATER).cheques == 0
    (issued,) = _statements(seeded)
    assert (issued.status, issued.cheque_count) == ("ISSUED", 2)
    # ... December's does, beside December's own cheques.
    with seeded() as s:
        (own,) = add_redeemed(s, a, [date(2026, 12, 4)])
        s.commit()
    _build(seeded, DEC, at=datetime(2027, 1, 1, 5, 0, tzinfo=UTC))
    dec = [st for st in _statements(seeded) if st.month == DEC][0]
    assert _lines(seeded, dec.id) == [later, own]
    with seeded() as s:
        lines = statement_lines(s, dec.id)  # type: ignore[arg-type]
        assert [line.session_day for line in lines] == [date(2026, 11, 29), date(2026, 12, 4)]


def test_validation_then_payment_reimburses_the_cheques(seeded: SessionFactory) -> None:
    with seeded() as s:
        a, b = qualified_structures(s, 2)
        mine = add_redeemed(s, a, [date(2026, 11, 3), date(2026, 11, 4)])
        other = add_redeemed(s, b, [date(2026, 11, 5)])
        s.commit()
    _build(seeded, NOV)
    st = next(x for x in _statements(seeded) if x.mediation_structure_id == a)

    def change(fn, **kw):  # type: ignore[no-untyped-def]
        with seeded() as s:
            begin_write(s)
            found = get_statement(s, st.id, for_update=True)  # type: ignore[arg-type]
            assert found is not None
            try:
                return fn(s, found.statement, **kw)
            finally:
                s.commit()

    pay = {"reference": "VIR-2026-118", "account_id": 7}
    with pytest.raises(StatementRefused) as refused:
        change(record_payment, paid_on=date(2026, 12, 3), at=LATER, **pay)
    assert refused.value.kind == RefusalKind.WRONG_STAGE
    assert "ne peut pas être enregistré (état : Brouillon)" in refused.value.message

    with pytest.raises(StatementRefused) as refused:  # the draft grew since it was shown
        change(validate, account_id=7, at=LATER, expected_cheque_count=1)
    assert refused.value.kind == RefusalKind.CONFLICT
    change(validate, account_id=7, at=LATER, expected_cheque_count=2, expected_total_cents=2000)
    with pytest.raises(StatementRefused) as refused:
        change(validate, account_id=7, at=LATER)
    assert refused.value.code == "statement_not_draft"

    validated_on = date(2026, 12, 4)
    for paid_on, reference, field in [
        (validated_on + timedelta(days=1), "VIR-1", "paid_on"),  # tomorrow (in Paris)
        (validated_on - timedelta(days=1), "VIR-1", "paid_on"),  # before the validation
        (validated_on, "   ", "payment_reference"),
    ]:
        with pytest.raises(StatementRefused) as refused:
            change(record_payment, paid_on=paid_on, reference=reference, account_id=7, at=LATER)
        assert (refused.value.kind, refused.value.field) == (RefusalKind.INVALID_INPUT, field)
    with seeded() as s:
        statuses = {c.serial: c.status for c in s.exec(select(Cheque)).all()}
    assert {statuses[x] for x in mine + other} == {"REDEEMED"}  # nothing changed yet

    change(record_payment, paid_on=validated_on, at=LATER, **pay)
    with seeded() as s:
        row = get_statement(s, st.id)  # type: ignore[arg-type]
        assert row is not None
        paid = row.statement
        assert (paid.status, paid.paid_on, paid.payment_reference) == (
            "PAID",
            validated_on,
            "VIR-2026-118",
        )
        assert (paid.validated_by, paid.paid_recorded_by) == (7, 7)
        statuses = {c.serial: c.status for c in s.exec(select(Cheque)).all()}
    assert [statuses[x] for x in mine] == ["REIMBURSED", "REIMBURSED"]
    assert statuses[other[0]] == "REDEEMED"  # another structure's statement is not paid
    with pytest.raises(StatementRefused):
        change(record_payment, paid_on=validated_on, at=LATER, **pay)  # paid once


def test_lists_follow_the_scope_and_the_filters(seeded: SessionFactory) -> None:
    with seeded() as s:
        a, b = qualified_structures(s, 2)
        add_redeemed(s, a, [date(2026, 11, 3)])
        add_redeemed(s, b, [date(2026, 11, 5), date(2026, 12, 2)])
        s.commit()
    _build(seeded, NOV)
    _build(seeded, DEC)
    with seeded() as s:
        epci_a = get_statement(s, _statements(seeded)[0].id).structure_epci_id  # type: ignore[arg-type, union-attr]

        def numbers(scope: StatementScope, **filters: object) -> list[str]:
            rows, total = list_statements(
                s,
                programme_code=12,
                scope=scope,
                filters=StatementFilter(**filters),  # type: ignore[arg-type]
            )
            assert total == len(rows)
            return [r.statement.number for r in rows]

        everything = StatementScope(everything=True)
        assert numbers(everything) == ["RB-2026-12-0001", "RB-2026-11-0001", "RB-2026-11-0002"]
        assert numbers(everything, month=NOV) == ["RB-2026-11-0001", "RB-2026-11-0002"]
        assert numbers(everything, mediation_structure_id=b) == [
            "RB-2026-12-0001",
            "RB-2026-11-0002",
        ]
        assert numbers(everything, status=StatementStatus.ISSUED) == []
        assert numbers(StatementScope(mediation_structure_id=a)) == ["RB-2026-11-0001"]
        assert numbers(StatementScope(epci_id=epci_a)) == ["RB-2026-11-0001"]
        assert numbers(StatementScope()) == []  # no scope, nothing


def test_the_projection_never_turns_a_reimbursed_cheque_back(seeded: SessionFactory) -> None:
    """The workflow keeps its cheques REDEEMED: a later event of the journey (another
    session) rewrites the cheque rows from its state, and must keep the payment."""
    training = training_event()
    record(seeded, referral_event(), training)
    _build(seeded, date(2026, 3, 1), at=datetime(2026, 4, 1, 4, 0, tzinfo=UTC))
    (st,) = _statements(seeded)
    assert _lines(seeded, st.id) == [SERIALS[0].digits, SERIALS[1].digits]
    with seeded() as s:
        begin_write(s)
        row = s.get(Statement, st.id)
        assert row is not None
        at = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
        validate(s, row, account_id=1, at=at)
        record_payment(s, row, paid_on=date(2026, 4, 2), reference="VIR-1", account_id=1, at=at)
        s.commit()

    cheques = [dataclasses.replace(c) for c in training.status.cheques]
    third = cheques[2]
    third.status, third.session_id = ChequeStatus.REDEEMED, "sess-2"
    third.redeemed_on, third.mediation_structure_id = date(2026, 4, 3), 5
    later: JourneyEvent = dataclasses.replace(
        training,
        seq=7,
        at=training.at + timedelta(days=20),
        status=dataclasses.replace(training.status, cheques=cheques, seq=7),
        detail={"session_id": "sess-2"},
    )
    assert isinstance(later.status.cheques[0], ChequeState)
    assert later.status.cheques[0].status == ChequeStatus.REDEEMED  # the workflow's view
    record(seeded, later)
    with seeded() as s:
        statuses = {c.serial: c.status for c in s.exec(select(Cheque)).all()}
    assert statuses[SERIALS[0].digits] == statuses[SERIALS[1].digits] == "REIMBURSED"
    assert statuses[SERIALS[2].digits] == "REDEEMED"  # the new session's cheque
    assert statuses[SERIALS[3].digits] == "ISSUED"


def test_a_build_at_the_same_instant_never_adds_to_a_statement_being_validated(
    seeded: SessionFactory,
) -> None:
    """A coordinator validates while the monthly build runs: the build waits for the
    validation's lock and then leaves the validated statement as the coordinator saw it."""
    with seeded() as s:
        (a,) = qualified_structures(s, 1)
        add_redeemed(s, a, [date(2026, 11, 3)])
        s.commit()
    _build(seeded, NOV)
    with seeded() as s:
        (late,) = add_redeemed(s, a, [date(2026, 11, 28)])
        s.commit()
    (draft,) = _statements(seeded)
    assert draft.id is not None

    validation = seeded()
    begin_write(validation)
    found = get_statement(validation, draft.id, for_update=True)
    assert found is not None
    reports: list[object] = []
    errors: list[BaseException] = []

    def monthly_build() -> None:
        try:
            reports.append(_build(seeded, NOV, at=LATER))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=monthly_build)
    thread.start()
    # Let the build reach the lock (if it reaches it after the commit, it finds the
    # statement validated: the same outcome either way).
    time.sleep(0.2)
    validate(validation, found.statement, account_id=1, at=LATER, expected_cheque_count=1)
    validation.commit()
    validation.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    (issued,) = _statements(seeded)
    assert (issued.status, issued.cheque_count, issued.total_cents) == ("ISSUED", 1, 1000)
    assert late not in _lines(seeded, issued.id)
    assert _build(seeded, DEC).cheques == 1  # December's statement takes it
