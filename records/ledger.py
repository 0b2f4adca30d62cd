"""The funder ledger in the records: entries written with the cheques, balances, the
entries list, and the end of a millésime. The rules are `domain.ledger`'s.

**Writing.** `charge` is called by the projection (records/projection.py) for every cheque
row it adds or changes, in the same transaction: the entries the cheque's new status
implies (`domain.ledger.entry_kinds`) that the ledger does not hold yet are written, each
funder's amount being the cheque's COMMITTED split (so a later change of the rule applies
to cheques issued after it, and a cheque's entries always add up to its value). The
(serial, kind, funder) unique constraint makes a concurrent duplicate fail the
transaction, which the activity retries; a replayed or late event finds its entries
written and writes nothing. A programme without a funding rule (no reference data yet)
gets no entries: `ensure_ledger` writes them once there is one.

**Monthly sums.** `ledger_month` holds the entries summed per (programme, funder, EPCI,
kind, Paris month): the differences add up in the session and are written just before it
commits, keys in order (as `records.overview_counts`), so balances and the pace read a few
thousand rows whatever the number of cheques.

**Back-fill.** `ensure_ledger` (run by `passnum migrate`, records.db.migrate) gives each
programme its default rule if it has none (derived from the budget lines:
`domain.ledger.default_rule`) and writes the missing entries of every cheque. Idempotent.

**Closure.** `close_millesimes` (the daily `MillesimeCloseWorkflow`'s activity): for each
millésime whose validity (grace included) has ended and that is not CLOSED, checks that
every unspent cheque is EXPIRED (lists those that are not, never changing a cheque: the
journeys' workflows own them), that the ledger reconciles with the cheques to the cent,
and records what returns to each funder with a report (`millesime_closure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, case, event, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from domain.ledger import (
    Balance,
    ClosureOutcome,
    ClosureStatus,
    EntryKind,
    FundingLine,
    FundingRule,
    Month,
    Pace,
    default_rule,
    entry_kinds,
    exhaustion_day,
    month_from_key,
    month_key,
    net_commitments,
    pace,
)
from domain.money import Cents
from domain.serials import parse_serial
from domain.stages import ChequeStatus
from domain.validity import last_valid_day, paris_day, valid_until
from records import upserts
from records.models import (
    BudgetLine,
    Cheque,
    Epci,
    Funder,
    FunderKind,
    FundingRuleLine,
    Journey,
    LedgerEntry,
    LedgerMonth,
    MillesimeClosure,
    Programme,
)
from records.upserts import additive_upsert

ENTRY: Table = LedgerEntry.__table__  # type: ignore[attr-defined]
MONTH: Table = LedgerMonth.__table__  # type: ignore[attr-defined]
_RULE: Table = FundingRuleLine.__table__  # type: ignore[attr-defined]
_PROGRAMME: Table = Programme.__table__  # type: ignore[attr-defined]
_CHEQUE: Table = Cheque.__table__  # type: ignore[attr-defined]
_JOURNEY: Table = Journey.__table__  # type: ignore[attr-defined]
_CLOSURE: Table = MillesimeClosure.__table__  # type: ignore[attr-defined]
_BUDGET: Table = BudgetLine.__table__  # type: ignore[attr-defined]
_FUNDER: Table = Funder.__table__  # type: ignore[attr-defined]
MONTH_KEY = ("programme_code", "funder_id", "epci_id", "kind", "month")
_PENDING = "ledger.pending"  # session.info: {month key: [cents, entries]}
_TERMS = "ledger.terms"  # session.info: {programme code: (cheque value, rule) | None}
BACKFILL_BATCH = 2_000
REPORT_UNEXPIRED_MAX = 200  # unexpired cheques listed by serial in a closure's report


# ---- the rule ----


@dataclass(frozen=True)
class Terms:
    """What charging a programme's cheques needs: the cheque's value and the rule."""

    cheque_value_cents: Cents
    rule: FundingRule


def load_terms(session: Session, programme_code: int) -> Terms | None:
    """The programme's cheque value and funding rule (lines in id order); None without a
    programme or a rule."""
    rows = session.execute(
        select(
            _PROGRAMME.c.cheque_value_cents, _RULE.c.funder_id, _RULE.c.share_bp, _RULE.c.epci_id
        )
        .join(_RULE, _RULE.c.programme_id == _PROGRAMME.c.id)
        .where(_PROGRAMME.c.code == programme_code)
        .order_by(_RULE.c.id)
    ).all()
    if not rows:
        return None
    rule = FundingRule(tuple(FundingLine(r.funder_id, r.share_bp, r.epci_id) for r in rows))
    return Terms(int(rows[0].cheque_value_cents), rule)


def _terms(session: Session, programme_code: int) -> Terms | None:
    """`load_terms`, once per transaction (an activity may record several events)."""
    cache: dict[int, Terms | None] = session.info.setdefault(_TERMS, {})
    if programme_code not in cache:
        cache[programme_code] = load_terms(session, programme_code)
    return cache[programme_code]


def budgets(session: Session, programme_id: int) -> dict[int, Cents]:
    """Each funder's budget: the sum of its budget lines."""
    b = _BUDGET.c
    rows = session.execute(
        select(b.funder_id, func.sum(b.amount_cents))
        .where(b.programme_id == programme_id)
        .group_by(b.funder_id)
    ).all()
    return {int(f): int(a or 0) for f, a in rows}


def ensure_rule(session: Session, programme: Programme) -> bool:
    """Give `programme` its default funding rule (from its budget lines) if it has none.
    True if written. Flushes."""
    assert programme.id is not None
    if session.execute(select(_RULE.c.id).where(_RULE.c.programme_id == programme.id)).first():
        return False
    f = _FUNDER.c
    funders = session.execute(
        select(f.id, f.kind, f.epci_id).where(f.programme_id == programme.id).order_by(f.id)
    ).all()
    if not funders:
        return False
    money = budgets(session, programme.id)
    general = [(f, money.get(f, 0)) for f, kind, epci in funders if epci is None]
    territorial = [
        (f, epci, money.get(f, 0))
        for f, kind, epci in funders
        if epci is not None and kind == FunderKind.EPCI.value
    ]
    rule = default_rule(general, territorial)
    session.execute(
        insert(_RULE),
        [
            {
                "programme_id": programme.id,
                "funder_id": line.funder_id,
                "share_bp": line.share_bp,
                "epci_id": line.epci_id,
            }
            for line in rule.lines
        ],
    )
    session.info.pop(_TERMS, None)
    return True


# ---- writing entries ----


@dataclass(frozen=True)
class ChequeCharge:
    """A cheque whose row the projection just added or changed."""

    serial: str  # canonical digits
    programme_code: int
    millesime: int
    epci_id: int
    status: str  # ChequeStatus
    committed_at: datetime  # when a missing COMMITTED entry is dated
    changed_at: datetime  # when the other missing entries are dated
    new: bool = False  # its row is being written now: the ledger cannot hold any entry of it


def _paris_month(at: datetime) -> int:
    day = paris_day(at)
    return day.year * 100 + day.month


def charge(session: Session, cheques: Sequence[ChequeCharge]) -> int:
    """Write the entries `cheques`' statuses imply and the ledger lacks; how many rows."""
    if not cheques:
        return 0
    e = ENTRY.c
    held: dict[str, dict[str, dict[int, int]]] = {}
    serials = [c.serial for c in cheques if not c.new]
    if serials:
        for serial, kind, funder, amount in session.execute(
            select(e.serial, e.kind, e.funder_id, e.amount_cents).where(e.serial.in_(serials))
        ):
            held.setdefault(serial, {}).setdefault(kind, {})[funder] = amount
    rows: list[dict[str, Any]] = []
    splits: dict[tuple[int, int], dict[int, int]] = {}  # a journey's cheques share theirs
    for cheque in cheques:
        terms = _terms(session, cheque.programme_code)
        if terms is None:
            continue
        kinds = held.get(cheque.serial, {})
        split = kinds.get(EntryKind.COMMITTED.value)
        if split is None:
            key = (cheque.programme_code, cheque.epci_id)
            if key not in splits:
                splits[key] = terms.rule.split(terms.cheque_value_cents, cheque.epci_id)
            split = splits[key]
        for kind in sorted(entry_kinds(cheque.status) - {EntryKind(k) for k in kinds}):
            at = cheque.committed_at if kind == EntryKind.COMMITTED else cheque.changed_at
            month = _paris_month(at)
            for funder, amount in split.items():
                rows.append(
                    {
                        "programme_code": cheque.programme_code,
                        "funder_id": funder,
                        "serial": cheque.serial,
                        "kind": kind.value,
                        "amount_cents": amount,
                        "at": at,
                        "month": month,
                        "millesime": cheque.millesime,
                        "epci_id": cheque.epci_id,
                    }
                )
    if rows:
        session.execute(insert(ENTRY), rows)
        pending: dict[tuple[Any, ...], list[int]] = session.info.setdefault(_PENDING, {})
        for row in rows:
            sums = pending.setdefault(tuple(row[k] for k in MONTH_KEY), [0, 0])
            sums[0] += row["amount_cents"]
            sums[1] += 1
    return len(rows)


_UPSERT_MONTH = additive_upsert(MONTH, MONTH_KEY, ("amount_cents", "entries"))


def write_pending(session: Session) -> None:
    """Write the monthly sums of the entries of this transaction (done by commit itself),
    keys in order."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    upserts.add(
        session,
        _UPSERT_MONTH,
        [
            dict(zip(MONTH_KEY, key, strict=True)) | {"amount_cents": a, "entries": n}
            for key, (a, n) in sorted(pending.items())
        ],
    )


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    if session.info.get(_PENDING):
        write_pending(session)  # type: ignore[arg-type]


@event.listens_for(OrmSession, "after_transaction_end")
def _after_transaction_end(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed or rolled back: nothing left to write
        session.info.pop(_PENDING, None)
        session.info.pop(_TERMS, None)


# ---- back-fill ----


def _missing_entries_query() -> Any:
    """Cheques lacking their COMMITTED entry, or the entry their status adds."""
    c, e = _CHEQUE.c, ENTRY.c

    def has(kind: Any) -> Any:
        return exists().where(e.serial == c.serial, e.kind == kind)

    # The kind each status adds to COMMITTED (domain.ledger.entry_kinds: one at most).
    later = case(
        *(
            (c.status == status.value, kind.value)
            for status in ChequeStatus
            for kind in entry_kinds(status) - {EntryKind.COMMITTED}
        ),
        else_=EntryKind.COMMITTED.value,
    )
    j = _JOURNEY.c
    return (
        select(
            c.serial,
            c.programme_code,
            c.millesime,
            c.status,
            c.updated_at,
            j.epci_id,
            j.booklet_issued_at,
        )
        .join(_JOURNEY, j.id == c.journey_id)
        .where(or_(~has(EntryKind.COMMITTED.value), ~has(later)))
        .order_by(c.serial)
    )


def ensure_ledger(session: Session) -> int:
    """Default rules for programmes without one, then the missing entries of every cheque
    (dated: COMMITTED at the booklet's issue, the others at the cheque's last change).
    How many entries were written; the caller commits."""
    for programme in session.exec(sm_select(Programme)).all():
        ensure_rule(session, programme)
    written = 0
    batch: list[ChequeCharge] = []
    for row in session.execute(_missing_entries_query()).all():
        batch.append(
            ChequeCharge(
                serial=row.serial,
                programme_code=row.programme_code,
                millesime=row.millesime,
                epci_id=row.epci_id,
                status=row.status,
                committed_at=row.booklet_issued_at or row.updated_at,
                changed_at=row.updated_at,
            )
        )
        if len(batch) >= BACKFILL_BATCH:
            written += charge(session, batch)
            batch = []
    written += charge(session, batch)
    write_pending(session)
    return written


# ---- balances ----


@dataclass(frozen=True)
class FunderLedger:
    funder_id: int
    name: str
    kind: str  # FunderKind
    epci_id: int | None
    share_bp: int | None  # its line in the funding rule
    balance: Balance
    budget_known: bool  # False: a part of the funder's figures only (an EPCI's scope)
    pace: Pace | None
    runs_out_on: date | None

    @property
    def kind_label(self) -> str:
        return FunderKind(self.kind).label

    @property
    def runs_out_month(self) -> Month | None:
        return None if self.runs_out_on is None else (self.runs_out_on.year, self.runs_out_on.month)


@dataclass(frozen=True)
class LedgerView:
    programme_code: int
    epci_id: int | None  # None: the whole programme
    today: date
    funders: list[FunderLedger]
    total: Balance

    def funder(self, funder_id: int) -> FunderLedger | None:
        return next((f for f in self.funders if f.funder_id == funder_id), None)


def ledger_view(
    session: Session, programme: Programme, *, epci_id: int | None, today: date
) -> LedgerView:
    """Every funder's balance and exhaustion day, from the monthly sums. With `epci_id`
    (an EPCI coordinator), the entries of that EPCI's journeys only: its own line is
    whole (budget, remaining, exhaustion), the others are their part of its territory."""
    assert programme.id is not None
    m = MONTH.c
    where = [m.programme_code == programme.code]
    if epci_id is not None:
        where.append(m.epci_id == epci_id)
    sums: dict[int, dict[tuple[Month, EntryKind], int]] = {}
    for funder, kind, month, amount in session.execute(
        select(m.funder_id, m.kind, m.month, func.sum(m.amount_cents))
        .where(*where)
        .group_by(m.funder_id, m.kind, m.month)
    ):
        key = (month_from_key(int(month)), EntryKind(kind))
        sums.setdefault(int(funder), {})[key] = int(amount or 0)
    money = budgets(session, programme.id)
    shares = {
        int(f): int(s)
        for f, s in session.execute(
            select(_RULE.c.funder_id, _RULE.c.share_bp).where(_RULE.c.programme_id == programme.id)
        )
    }
    funders: list[FunderLedger] = []
    for f in _funders(session, programme.id):
        assert f.id is not None
        known = epci_id is None or f.epci_id == epci_id
        if epci_id is not None and f.epci_id is not None and not known:
            continue  # another EPCI's line: nothing of it concerns this territory
        by_month = sums.get(f.id, {})
        by_kind: dict[EntryKind, int] = {}
        for (_, kind), amount in by_month.items():
            by_kind[kind] = by_kind.get(kind, 0) + amount
        balance = Balance.of(money.get(f.id, 0) if known else 0, by_kind)
        measured = pace(net_commitments(by_month), today) if known else None
        funders.append(
            FunderLedger(
                funder_id=f.id,
                name=f.name,
                kind=f.kind,
                epci_id=f.epci_id,
                share_bp=shares.get(f.id),
                balance=balance,
                budget_known=known,
                pace=measured,
                runs_out_on=exhaustion_day(balance.remaining, measured, today) if known else None,
            )
        )
    total = Balance(
        budget=sum(f.balance.budget for f in funders if f.budget_known),
        committed=sum(f.balance.committed for f in funders),
        spent=sum(f.balance.spent for f in funders),
        cancelled=sum(f.balance.cancelled for f in funders),
        returned=sum(f.balance.returned for f in funders),
    )
    return LedgerView(programme.code, epci_id, today, funders, total)


# ---- entries ----


@dataclass(frozen=True)
class EntryRow:
    id: int
    funder_id: int
    serial: str
    kind: str
    amount_cents: int
    at: datetime
    millesime: int
    epci_id: int

    @property
    def kind_label(self) -> str:
        return EntryKind(self.kind).label

    @property
    def display_serial(self) -> str:
        return parse_serial(self.serial).display


def list_entries(
    session: Session,
    *,
    programme_code: int,
    epci_id: int | None = None,
    funder_id: int | None = None,
    month: Month | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[EntryRow], int]:
    """Entries, newest first, and how many match (counted from the monthly sums)."""
    e, m = ENTRY.c, MONTH.c
    where = [e.programme_code == programme_code]
    counted = [m.programme_code == programme_code]
    for column, counter, value in (
        (e.epci_id, m.epci_id, epci_id),
        (e.funder_id, m.funder_id, funder_id),
        (e.month, m.month, None if month is None else month_key(month)),
    ):
        if value is not None:
            where.append(column == value)
            counted.append(counter == value)
    total = session.execute(select(func.coalesce(func.sum(m.entries), 0)).where(*counted)).scalar()
    rows = session.execute(
        select(e.id, e.funder_id, e.serial, e.kind, e.amount_cents, e.at, e.millesime, e.epci_id)
        .where(*where)
        .order_by(e.month.desc(), e.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [EntryRow(**r._asdict()) for r in rows], int(total or 0)


def entry_months(session: Session, programme_code: int, epci_id: int | None = None) -> list[Month]:
    """The months with entries, newest first (the entries list's month filter)."""
    m = MONTH.c
    where = [m.programme_code == programme_code, m.entries != 0]
    if epci_id is not None:
        where.append(m.epci_id == epci_id)
    keys = session.scalars(select(m.month).where(*where).distinct().order_by(m.month.desc()))
    return [month_from_key(int(k)) for k in keys]


# ---- the end of a millésime ----


def _funders(session: Session, programme_id: int) -> list[Funder]:
    return list(
        session.exec(
            sm_select(Funder).where(Funder.programme_id == programme_id).order_by(col(Funder.id))
        ).all()
    )


def _report(
    session: Session, programme: Programme, millesime: int, funders: dict[int, Funder]
) -> tuple[dict[str, Any], dict[int, int], int, bool]:
    """(report, returned cents per funder, unexpired count, reconciled) of a millésime."""
    c, e = _CHEQUE.c, ENTRY.c
    value = programme.cheque_value_cents
    statuses = {
        str(s): int(n)
        for s, n in session.execute(
            select(c.status, func.count())
            .where(c.programme_code == programme.code, c.millesime == millesime)
            .group_by(c.status)
        )
    }
    sums: dict[int, dict[str, int]] = {}
    for funder, kind, amount in session.execute(
        select(e.funder_id, e.kind, func.sum(e.amount_cents))
        .where(e.programme_code == programme.code, e.millesime == millesime)
        .group_by(e.funder_id, e.kind)
    ):
        sums.setdefault(int(funder), {})[str(kind)] = int(amount or 0)
    # What the cheques say each kind must sum to, to the cent.
    expected = {kind.value: 0 for kind in EntryKind}
    for status, n in statuses.items():
        for kind in entry_kinds(status):
            expected[kind.value] += n * value
    booked = {kind.value: sum(s.get(kind.value, 0) for s in sums.values()) for kind in EntryKind}
    differences = {k: booked[k] - expected[k] for k in expected if booked[k] != expected[k]}
    unexpired_rows = session.execute(
        select(c.serial, c.journey_id)
        .where(
            c.programme_code == programme.code,
            c.millesime == millesime,
            c.status == ChequeStatus.ISSUED.value,
        )
        .order_by(c.serial)
        .limit(REPORT_UNEXPIRED_MAX)
    ).all()
    unexpired = statuses.get(ChequeStatus.ISSUED.value, 0)
    returned = {f: s.get(EntryKind.EXPIRED.value, 0) for f, s in sums.items()}
    report: dict[str, Any] = {
        "millesime": millesime,
        "last_valid_day": last_valid_day(millesime, programme.grace_months).isoformat(),
        "cheque_value_cents": value,
        "cheques": statuses,
        "funders": [
            {
                "funder_id": fid,
                "name": f.name,
                "kind": f.kind,
                "committed_cents": sums.get(fid, {}).get(EntryKind.COMMITTED.value, 0),
                "spent_cents": sums.get(fid, {}).get(EntryKind.SPENT.value, 0),
                "cancelled_cents": sums.get(fid, {}).get(EntryKind.CANCELLED.value, 0),
                "returned_cents": returned.get(fid, 0),
            }
            for fid, f in funders.items()
            if fid in sums
        ],
        "expected_cents": expected,
        "booked_cents": booked,
        "differences_cents": differences,
        "reconciled": not differences,
        "unexpired_count": unexpired,
        "unexpired": [{"serial": r.serial, "journey_id": r.journey_id} for r in unexpired_rows],
    }
    return report, returned, unexpired, not differences


def close_millesimes(session: Session, at: datetime) -> list[ClosureOutcome]:
    """Close every millésime whose validity (grace included) ended by `at` and that is not
    CLOSED yet; a PENDING one is checked again. The caller commits."""
    outcomes: list[ClosureOutcome] = []
    for programme in session.exec(sm_select(Programme).order_by(col(Programme.id))).all():
        assert programme.id is not None
        closures = {
            int(r.millesime): r
            for r in session.execute(
                select(_CLOSURE.c.id, _CLOSURE.c.millesime, _CLOSURE.c.status).where(
                    _CLOSURE.c.programme_code == programme.code
                )
            )
        }
        millesimes = sorted(
            int(m)
            for m in session.scalars(
                select(_CHEQUE.c.millesime)
                .where(_CHEQUE.c.programme_code == programme.code)
                .distinct()
            )
        )
        funders = {f.id: f for f in _funders(session, programme.id) if f.id is not None}
        for millesime in millesimes:
            known = closures.get(millesime)
            if known is not None and known.status == ClosureStatus.CLOSED.value:
                continue
            if at < valid_until(millesime, programme.grace_months):
                continue
            report, returned, unexpired, reconciled = _report(
                session, programme, millesime, funders
            )
            status = (
                ClosureStatus.CLOSED if unexpired == 0 and reconciled else ClosureStatus.PENDING
            )
            values: dict[str, Any] = {
                "status": status.value,
                "checked_at": at,
                "closed_at": at if status == ClosureStatus.CLOSED else None,
                "returned_cents": sum(returned.values()),
                "returned": {str(f): a for f, a in sorted(returned.items())},
                "unexpired": unexpired,
                "report": report | {"checked_at": at.isoformat()},
            }
            if known is None:
                session.execute(
                    insert(_CLOSURE).values(
                        values
                        | {
                            "programme_code": programme.code,
                            "millesime": millesime,
                            "first_checked_at": at,
                        }
                    )
                )
            else:
                session.execute(update(_CLOSURE).where(_CLOSURE.c.id == known.id).values(values))
            outcomes.append(
                ClosureOutcome(
                    programme_code=programme.code,
                    millesime=millesime,
                    status=status.value,
                    returned_cents=values["returned_cents"],
                    unexpired=unexpired,
                )
            )
    return outcomes


def list_closures(session: Session, programme_code: int) -> list[MillesimeClosure]:
    return list(
        session.exec(
            sm_select(MillesimeClosure)
            .where(MillesimeClosure.programme_code == programme_code)
            .order_by(col(MillesimeClosure.millesime).desc())
        ).all()
    )


def epci_names(session: Session, programme_id: int) -> dict[int, str]:
    return {
        int(i): str(n)
        for i, n in session.execute(
            select(col(Epci.id), col(Epci.name)).where(col(Epci.programme_id) == programme_id)
        )
    }


def totals_by_kind(session: Session, programme_code: int) -> dict[str, int]:
    """Every entry summed by kind (a full scan: tests and checks, not pages)."""
    e = ENTRY.c
    return {
        str(k): int(a)
        for k, a in session.execute(
            select(e.kind, func.sum(e.amount_cents))
            .where(e.programme_code == programme_code)
            .group_by(e.kind)
        )
    }


# ---- closures as a reader sees them ----


@dataclass(frozen=True)
class ClosureFunder:
    funder_id: int
    name: str
    kind: str
    committed_cents: Cents
    spent_cents: Cents
    cancelled_cents: Cents
    returned_cents: Cents

    @property
    def kind_label(self) -> str:
        return FunderKind(self.kind).label


@dataclass(frozen=True)
class UnexpiredCheque:
    serial: str
    journey_id: str

    @property
    def display_serial(self) -> str:
        return parse_serial(self.serial).display


@dataclass(frozen=True)
class ClosureView:
    millesime: int
    status: str  # ClosureStatus
    last_valid_day: date
    first_checked_at: datetime
    checked_at: datetime
    closed_at: datetime | None
    whole: bool  # the whole programme's figures (else one EPCI's line and journeys)
    returned_cents: Cents  # within the reader's scope
    funders: list[ClosureFunder]
    cheques: dict[str, int]  # by status, whole programme only (else empty)
    reconciled: bool
    differences_cents: dict[str, int]
    unexpired_count: int  # whole programme
    unexpired: list[UnexpiredCheque]  # listed (at most REPORT_UNEXPIRED_MAX), in scope

    @property
    def status_label(self) -> str:
        return ClosureStatus(self.status).label


def closure_views(
    session: Session, programme_code: int, *, epci_id: int | None, millesime: int | None = None
) -> list[ClosureView]:
    """The closures, newest millésime first, as a reader of `epci_id` (None: the whole
    programme) may see them: an EPCI coordinator sees their own EPCI's line and the
    unexpired cheques of their journeys."""
    views: list[ClosureView] = []
    for closure in list_closures(session, programme_code):
        if millesime is not None and closure.millesime != millesime:
            continue
        report = closure.report
        funders = [
            ClosureFunder(
                funder_id=int(f["funder_id"]),
                name=str(f["name"]),
                kind=str(f["kind"]),
                committed_cents=int(f["committed_cents"]),
                spent_cents=int(f["spent_cents"]),
                cancelled_cents=int(f["cancelled_cents"]),
                returned_cents=int(f["returned_cents"]),
            )
            for f in report.get("funders", [])
        ]
        listed = [
            UnexpiredCheque(str(u["serial"]), str(u["journey_id"]))
            for u in report.get("unexpired", [])
        ]
        if epci_id is not None:
            own = {
                int(i)
                for i in session.scalars(select(_FUNDER.c.id).where(_FUNDER.c.epci_id == epci_id))
            }
            funders = [f for f in funders if f.funder_id in own]
            journeys = {u.journey_id for u in listed}
            mine = set(
                session.scalars(
                    select(_JOURNEY.c.id).where(
                        _JOURNEY.c.id.in_(journeys), _JOURNEY.c.epci_id == epci_id
                    )
                )
            )
            listed = [u for u in listed if u.journey_id in mine]
        views.append(
            ClosureView(
                millesime=closure.millesime,
                status=closure.status,
                last_valid_day=date.fromisoformat(str(report["last_valid_day"])),
                first_checked_at=closure.first_checked_at,
                checked_at=closure.checked_at,
                closed_at=closure.closed_at,
                whole=epci_id is None,
                returned_cents=sum(f.returned_cents for f in funders),
                funders=funders,
                cheques=dict(report.get("cheques", {})) if epci_id is None else {},
                reconciled=bool(report.get("reconciled")),
                differences_cents=dict(report.get("differences_cents", {})),
                unexpired_count=int(report.get("unexpired_count", 0)),
                unexpired=listed,
            )
        )
    return views
