"""The funder ledger written by the projection, on SQLite and PostgreSQL.

The property: whatever the order the journeys' events reach the records (cheques issued,
redeemed, reimbursed, cancelled with a replacement booklet, withdrawn, expired; events
delivered late, replayed, several in one transaction), every cheque has exactly the
entries its status implies, each funder's entries of each kind sum to the cheques of that
status times their share, to the cent, the kinds' totals to the cheques by status times
the value, and the monthly sums equal a recount. Also: a change of the rule applies to
cheques issued after it, the back-fill of cheques recorded before the ledger, the
balances, the entries list, and the end of a millésime."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from domain.contracts import Actor, ChequeState, JourneyEvent, JourneyStatus
from domain.ledger import ClosureStatus, entry_kinds
from domain.serials import booklet_serials
from domain.stages import Action, ChequeStatus, Outcome, Role, Stage
from records import ledger, queries
from records.db import SessionFactory, begin_write
from records.models import Cheque, FundingRuleLine, Journey, LedgerEntry, LedgerMonth
from records.projection import record_journey_event
from records.seed import seed_default_programme

PROGRAMME = 12
VALUE = 1000
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACTOR = Actor(Role.SOCIAL_WORKER, "sw-1")
NO_FUNDER_EPCI = 999  # a territory without an EPCI line: State and Département pay it all
_numbers = itertools.count(1)  # journeys and booklets unique across examples


def seeded(sessions: SessionFactory) -> None:
    with sessions() as s:
        begin_write(s)
        if queries.get_programme(s, PROGRAMME) is None:
            seed_default_programme(s)
            s.commit()


# ---- journeys' stories: each event the journey's state after one change ----


@dataclass
class Story:
    status: JourneyStatus
    millesime: int
    events: list[JourneyEvent] = field(default_factory=list)
    clock: datetime = T0

    @staticmethod
    def start_of(millesime: int) -> datetime:
        """An instant well within a millésime (1 March, 09:00 UTC)."""
        return datetime(millesime, 3, 1, 9, 0, tzinfo=UTC)

    @classmethod
    def start(cls, epci: int, millesime: int, cheques: int, start: datetime) -> Story:
        number = next(_numbers)
        status = JourneyStatus(
            journey_id=str(uuid.UUID(int=number + (1 << 64))),
            programme_code=PROGRAMME,
            epci_id=epci,
            reception_structure_id=1,
            referrer=ACTOR,
            stage=Stage.BOOKLET_ISSUED,
            stage_dates={Stage.REFERRED: start},
            last_activity_at=start,
            millesime=millesime,
            booklet_number=number,
        )
        status.cheques = [
            ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
            for s in booklet_serials(PROGRAMME, millesime, number, cheques)
        ]
        story = cls(status, millesime, clock=start)
        story.emit(Action.BOOKLET_ISSUED)
        return story

    def emit(self, action: Action) -> None:
        self.clock += timedelta(days=9)
        self.status.seq += 1
        self.status.last_activity_at = self.clock
        self.events.append(
            JourneyEvent(
                journey_id=self.status.journey_id,
                seq=self.status.seq,
                at=self.clock,
                actor=ACTOR,
                action=action,
                from_stage=None,
                to_stage=self.status.stage,
                status=copy.deepcopy(self.status),
            )
        )

    def issued(self) -> list[ChequeState]:
        return [c for c in self.status.cheques if c.status == ChequeStatus.ISSUED]

    @property
    def closed(self) -> bool:
        return self.status.stage == Stage.CLOSED

    def apply(self, op: str, k: int) -> None:
        if self.closed:
            return
        if op == "redeem" and self.issued():
            for cheque in self.issued()[:k]:
                cheque.status = ChequeStatus.REDEEMED
                cheque.redeemed_on = self.clock.date()
                cheque.session_id = str(uuid.uuid4())
                cheque.mediation_structure_id = 5
            self.status.stage = Stage.IN_TRAINING
            self.emit(Action.SESSION_LOGGED)
        elif op == "reimburse":
            spent = [c for c in self.status.cheques if c.status == ChequeStatus.REDEEMED]
            for cheque in spent[:k]:
                cheque.status = ChequeStatus.REIMBURSED
            self.emit(Action.NUDGED)
        elif op == "replace" and self.issued():
            # A lost booklet: its unspent cheques cancelled, a new booklet of as many.
            left = self.issued()
            for cheque in left:
                cheque.status = ChequeStatus.CANCELLED
            booklet = next(_numbers)
            self.status.cheques += [
                ChequeState(s.digits, s.cheque_number, ChequeStatus.ISSUED)
                for s in booklet_serials(PROGRAMME, self.millesime, booklet, len(left))
            ]
            self.emit(Action.NUDGED)
        elif op in ("withdraw", "expire"):
            unspent = ChequeStatus.CANCELLED if op == "withdraw" else ChequeStatus.EXPIRED
            for cheque in self.issued():
                cheque.status = unspent
            self.status.stage = Stage.CLOSED
            self.status.outcome = Outcome.WITHDRAWN if op == "withdraw" else Outcome.EXPIRED
            self.status.closed_at = self.clock
            self.emit(Action.CLOSED)


OPS = st.tuples(
    st.sampled_from(["redeem", "reimburse", "replace", "withdraw", "expire"]), st.integers(1, 3)
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Story], list[list[JourneyEvent]]]:
    """Some journeys' stories, and their events grouped into transactions in a random
    order, with replays."""
    stories = []
    for _ in range(draw(st.integers(1, 4))):
        epci = draw(st.sampled_from([1, 2, 7, 17, NO_FUNDER_EPCI]))
        start = T0 + timedelta(days=draw(st.integers(0, 200)))
        story = Story.start(
            epci, draw(st.sampled_from([2025, 2026])), draw(st.integers(1, 5)), start
        )
        for op, k in draw(st.lists(OPS, max_size=6)):
            story.apply(op, k)
        stories.append(story)
    events = [e for s in stories for e in s.events]
    order = list(draw(st.permutations(events)))
    for _ in range(draw(st.integers(0, 4))):  # replays of an event already delivered
        order.insert(draw(st.integers(0, len(order))), draw(st.sampled_from(events)))
    groups: list[list[JourneyEvent]] = []
    while order:
        n = draw(st.integers(1, 3))
        groups.append(order[:n])
        order = order[n:]
    return stories, groups


def deliver(sessions: SessionFactory, groups: list[list[JourneyEvent]]) -> None:
    for group in groups:
        with sessions() as s:
            begin_write(s)
            for event in group:
                record_journey_event(s, event)
            s.commit()


# ---- reconciliation ----


def check_reconciled(s: Session, stories: list[Story] | None = None) -> dict[str, int]:
    """Every check of the module docstring; returns the totals per kind."""
    terms = ledger.load_terms(s, PROGRAMME)
    assert terms is not None
    e = LedgerEntry.__table__.c  # type: ignore[attr-defined]
    cheques = {
        r.serial: (r.status, r.epci_id)
        for r in s.execute(
            select(Cheque.serial, Cheque.status, Journey.epci_id).join(  # type: ignore[call-overload]
                Journey, Journey.id == Cheque.journey_id
            )
        )
    }
    if stories is not None:  # the records hold each journey's last state
        final = {c.serial: str(c.status) for story in stories for c in story.status.cheques}
        assert {k: cheques[k][0] for k in final} == final
    entries: dict[str, dict[str, dict[int, int]]] = {}
    for serial, kind, funder, amount in s.execute(
        select(e.serial, e.kind, e.funder_id, e.amount_cents)
    ):
        by_funder = entries.setdefault(serial, {}).setdefault(kind, {})
        assert funder not in by_funder  # never a cheque counted twice
        by_funder[funder] = amount
    assert set(entries) == set(cheques)  # no entry without its cheque, no cheque without
    expected: Counter[tuple[str, int]] = Counter()
    per_kind: Counter[str] = Counter()
    for serial, (status, epci) in cheques.items():
        split = terms.rule.split(terms.cheque_value_cents, epci)
        kinds = entries[serial]
        assert set(kinds) == {k.value for k in entry_kinds(status)}, (serial, status)
        for kind, by_funder in kinds.items():
            assert by_funder == split  # each kind mirrors the cheque's COMMITTED split
            for funder, amount in split.items():
                expected[(kind, funder)] += amount
        for kind in entry_kinds(status):
            per_kind[kind.value] += terms.cheque_value_cents
    booked = Counter(
        {
            (k, f): int(a)
            for k, f, a in s.execute(
                select(e.kind, e.funder_id, func.sum(e.amount_cents)).group_by(e.kind, e.funder_id)
            )
        }
    )
    assert booked == expected  # per funder and kind, to the cent
    totals = ledger.totals_by_kind(s, PROGRAMME)
    assert totals == dict(per_kind)  # per kind: cheques by status times the value
    statuses = Counter(status for status, _ in cheques.values())
    assert totals.get("SPENT", 0) == VALUE * (statuses["REDEEMED"] + statuses["REIMBURSED"])
    assert totals.get("CANCELLED", 0) == VALUE * statuses["CANCELLED"]
    assert totals.get("EXPIRED", 0) == VALUE * statuses["EXPIRED"]
    assert totals.get("COMMITTED", 0) == VALUE * len(cheques)
    m = LedgerMonth.__table__.c  # type: ignore[attr-defined]
    months = {
        (r.funder_id, r.epci_id, r.kind, r.month): (r.amount_cents, r.entries)
        for r in s.execute(
            select(m.funder_id, m.epci_id, m.kind, m.month, m.amount_cents, m.entries)
        )
        if r.entries
    }
    recount = {
        (r[0], r[1], r[2], r[3]): (int(r[4]), int(r[5]))
        for r in s.execute(
            select(
                e.funder_id, e.epci_id, e.kind, e.month, func.sum(e.amount_cents), func.count()
            ).group_by(e.funder_id, e.epci_id, e.kind, e.month)
        )
    }
    assert months == recount
    return totals


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_the_ledger_reconciles_with_the_cheques_whatever_the_order(
    sessions: SessionFactory, case: tuple[list[Story], list[list[JourneyEvent]]]
) -> None:
    seeded(sessions)
    stories, groups = case
    deliver(sessions, groups)
    with sessions() as s:
        check_reconciled(s, stories)
    deliver(sessions, groups[::-1])  # everything delivered again: nothing changes
    with sessions() as s:
        check_reconciled(s, stories)


def test_a_rule_change_applies_to_cheques_issued_after_it(sessions: SessionFactory) -> None:
    seeded(sessions)
    before = Story.start(1, 2026, 2, T0)
    deliver(sessions, [before.events])
    with sessions() as s:  # the Département now pays the EPCI's share too
        begin_write(s)
        s.execute(update(FundingRuleLine).where(FundingRuleLine.epci_id == 1).values(share_bp=0))  # type: ignore[arg-type]
        s.commit()
    before.apply("redeem", 1)
    before.apply("withdraw", 1)
    after = Story.start(1, 2026, 1, T0)
    deliver(sessions, [before.events[1:], after.events])
    with sessions() as s:
        e = LedgerEntry.__table__.c  # type: ignore[attr-defined]
        rows = s.execute(select(e.serial, e.kind, e.funder_id, e.amount_cents)).all()
        old = {
            (r.kind, r.funder_id): r.amount_cents
            for r in rows
            if r.serial == before.status.cheques[0].serial
        }
        assert old[("SPENT", 2)] == old[("COMMITTED", 2)] == 128  # the split it was issued with
        new = {
            r.funder_id: r.amount_cents for r in rows if r.serial == after.status.cheques[0].serial
        }
        assert 2 not in new and sum(new.values()) == VALUE


def test_back_fill_of_cheques_recorded_before_the_ledger(sessions: SessionFactory) -> None:
    """Cheques projected while no rule existed (as before migration 0012) get their entries
    from `ensure_ledger` (run by `passnum migrate`), once."""
    seeded(sessions)
    with sessions() as s:
        begin_write(s)
        s.execute(delete(FundingRuleLine))
        s.commit()
    story = Story.start(2, 2026, 4, T0)
    story.apply("redeem", 2)
    story.apply("withdraw", 1)
    deliver(sessions, [story.events])
    with sessions() as s:
        begin_write(s)
        assert ledger.totals_by_kind(s, PROGRAMME) == {}
        written = ledger.ensure_ledger(s)
        s.commit()
        assert written == 3 * (4 + 2 + 2)  # three funders: 4 committed, 2 spent, 2 cancelled
        check_reconciled(s, [story])
        assert ledger.ensure_ledger(s) == 0
        s.commit()
        check_reconciled(s, [story])


def test_balances_and_entries_list(sessions: SessionFactory) -> None:
    seeded(sessions)
    stories = [
        Story.start(1, 2026, 5, T0),
        Story.start(2, 2026, 5, T0),
        Story.start(NO_FUNDER_EPCI, 2026, 2, T0),
    ]
    stories[0].apply("redeem", 3)
    stories[1].apply("withdraw", 1)
    deliver(sessions, [s.events for s in stories])
    with sessions() as s:
        programme = queries.get_programme(s, PROGRAMME)
        assert programme is not None
        view = ledger.ledger_view(s, programme, epci_id=None, today=date(2026, 6, 1))
        assert view.total.committed == 12 * VALUE
        assert view.total.spent == 3 * VALUE and view.total.cancelled == 5 * VALUE
        assert view.total.engaged == 4 * VALUE
        assert view.total.budget == programme.budget_total_cents
        etat = next(f for f in view.funders if f.kind == "ETAT")
        assert etat.balance.committed == 10 * 590 + 2 * 677
        assert etat.balance.remaining == 62_830_000 - (10 * 590 + 2 * 677) + 5 * 590
        # Committed in January (12 cheques, 5 released): Feb to May complete, nothing since.
        assert etat.pace is not None and etat.pace.months == ((2026, 3), (2026, 4), (2026, 5))
        assert etat.runs_out_on is None  # no commitment over the last three months
        rodez = next(f for f in view.funders if f.epci_id == 1)
        assert rodez.balance.committed == 5 * 128 and rodez.balance.spent == 3 * 128
        mine = ledger.ledger_view(s, programme, epci_id=1, today=date(2026, 2, 10))
        assert {f.epci_id for f in mine.funders} == {None, 1}  # no other EPCI's line
        assert next(f for f in mine.funders if f.epci_id == 1).budget_known
        state_part = next(f for f in mine.funders if f.kind == "ETAT")
        assert not state_part.budget_known and state_part.balance.committed == 5 * 590
        # Committed 5 × 128 in January: at that pace, Rodez's 31 918 € last years.
        own = next(f for f in mine.funders if f.epci_id == 1)
        assert own.pace is not None and own.pace.per_month == 5 * 128
        assert own.runs_out_on is not None and own.runs_out_on.year > 2030

        rows, total = ledger.list_entries(
            s, programme_code=PROGRAMME, funder_id=etat.funder_id, limit=4
        )
        assert total == 12 + 3 + 5 and len(rows) == 4
        assert all(r.funder_id == etat.funder_id for r in rows)
        rows, total = ledger.list_entries(s, programme_code=PROGRAMME, epci_id=1, month=(2026, 1))
        assert total == 3 * (5 + 3) and {r.epci_id for r in rows} == {1}
        assert ledger.entry_months(s, PROGRAMME, epci_id=1)[0] == (2026, 1)


def test_the_end_of_a_millesime(sessions: SessionFactory) -> None:
    """After 31 January N+1 (grace included) the closure lists the unspent cheques not yet
    expired and waits (PENDING); once they are, it records each funder's return (CLOSED)
    and never changes again. Nothing before the end; never a cheque's status changed."""
    seeded(sessions)
    done = Story.start(1, 2025, 4, datetime(2025, 3, 1, tzinfo=UTC))
    done.apply("redeem", 1)
    late = Story.start(NO_FUNDER_EPCI, 2025, 2, datetime(2025, 3, 1, tzinfo=UTC))
    current = Story.start(1, 2026, 3, T0)
    deliver(sessions, [done.events, late.events, current.events])
    end = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)  # 1 February 2026 00:00 in Paris
    with sessions() as s:
        begin_write(s)
        assert ledger.close_millesimes(s, end - timedelta(seconds=1)) == []
        s.commit()
    done.apply("expire", 1)
    deliver(sessions, [done.events[-1:]])
    with sessions() as s:
        begin_write(s)
        (outcome,) = ledger.close_millesimes(s, end + timedelta(hours=6))
        s.commit()
        assert (outcome.millesime, outcome.status, outcome.unexpired) == (2025, "PENDING", 2)
        (pending,) = ledger.list_closures(s, PROGRAMME)
        assert pending.report["unexpired_count"] == 2
        assert {u["journey_id"] for u in pending.report["unexpired"]} == {late.status.journey_id}
        assert pending.report["reconciled"] is True
        assert pending.returned_cents == 3 * VALUE
    with sessions() as s:  # the closure changed no cheque
        statuses = {c.serial: c.status for c in s.scalars(select(Cheque))}
        assert all(statuses[c.serial] == "ISSUED" for c in late.status.cheques)
    late.apply("expire", 1)
    deliver(sessions, [late.events[-1:]])
    with sessions() as s:
        begin_write(s)
        (outcome,) = ledger.close_millesimes(s, end + timedelta(days=1))
        s.commit()
        assert (outcome.status, outcome.unexpired, outcome.returned_cents) == (
            "CLOSED",
            0,
            5 * VALUE,
        )
        (closed,) = ledger.list_closures(s, PROGRAMME)
        assert closed.status == ClosureStatus.CLOSED and closed.closed_at is not None
        terms = ledger.load_terms(s, PROGRAMME)
        assert terms is not None
        returned = Counter[int]()
        for epci, n in ((1, 3), (NO_FUNDER_EPCI, 2)):
            for funder, amount in terms.rule.split(VALUE, epci).items():
                returned[funder] += n * amount
        assert closed.returned == {str(f): a for f, a in sorted(returned.items())}
        assert closed.report["cheques"] == {"REDEEMED": 1, "EXPIRED": 5}
        first = closed.model_dump()
        s.commit()
        begin_write(s)
        assert ledger.close_millesimes(s, end + timedelta(days=2)) == []  # closed for good
        s.commit()
        (again,) = ledger.list_closures(s, PROGRAMME)
        s.refresh(again)
        assert again.model_dump() == first
        check_reconciled(s)
