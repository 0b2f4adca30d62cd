"""Reimbursement statements in the records: the monthly build, validation, payment, reads.

The build (`build_statements`, run by the monthly Schedule's activity) gathers every
REDEEMED cheque of the programme taken before the end of the month and not yet in a
statement, per mediation structure, into that structure's statement of the month: created
as a DRAFT, or a DRAFT built before that takes the cheques logged since (late entries). A
statement already validated takes nothing more: its structure's late cheques wait for the
next month's statement. `statement_line.serial` is unique, so a cheque is in one statement
whatever builds run, retried or at once (a concurrent build fails on the constraint and is
retried by Temporal, then finds the cheques taken).

Validation and payment are a coordinator's (api/statement_service.py decides who); the
payment turns the statement's cheques REIMBURSED. That is money state the journey
workflow does not hold (its cheques stay REDEEMED): records/projection.py never turns a
REIMBURSED cheque back.

Writers flush only; the caller commits, inside a write unit of work (`begin_write`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from domain.months import next_month
from domain.refusals import (
    MSG_PAYMENT_REFERENCE_MISSING,
    RefusalKind,
    msg_payment_before_validation,
    msg_payment_in_future,
    msg_statement_changed,
    msg_statement_not_draft,
    msg_statement_not_issued,
)
from domain.stages import ChequeStatus
from domain.statements import StatementsBuilt, StatementStatus, statement_number
from domain.validity import paris_day
from records.models import Cheque, MediationStructure, Programme, Statement, StatementLine

_CHEQUE = Cheque.__table__  # type: ignore[attr-defined]
_LINE = StatementLine.__table__  # type: ignore[attr-defined]
_STRUCTURE = MediationStructure.__table__  # type: ignore[attr-defined]


class StatementRefused(Exception):
    """A change the statement's state or the input does not allow: nothing changed.
    `kind` says how callers answer (WRONG_STAGE, CONFLICT: 409; INVALID_INPUT: 422),
    `field` which input is wrong ("" for the whole request)."""

    def __init__(self, kind: RefusalKind, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message
        self.field = field


# ---- the monthly build ----


def build_statements(
    session: Session,
    *,
    month: date,
    at: datetime,
    programme_code: int | None = None,
    mediation_structure_id: int | None = None,
) -> StatementsBuilt:
    """Build the statements of `month` (its first day) for every programme (or one), every
    structure (or one). Idempotent: run again, it adds only cheques logged since."""
    month = month.replace(day=1)
    end = next_month(month)
    report = StatementsBuilt(month=month)
    query = select(Programme)
    if programme_code is not None:
        query = query.where(Programme.code == programme_code)
    for programme in session.exec(query.order_by(col(Programme.code))).all():
        report = _build_programme(
            session, programme, month, end, at, mediation_structure_id, report
        )
    session.flush()
    return report


def _build_programme(
    session: Session,
    programme: Programme,
    month: date,
    end: date,
    at: datetime,
    structure_id: int | None,
    report: StatementsBuilt,
) -> StatementsBuilt:
    c, line, s = _CHEQUE.c, _LINE.c, _STRUCTURE.c
    query = (
        select(c.serial, c.mediation_structure_id, c.redeemed_on)
        .select_from(
            _CHEQUE.join(_STRUCTURE, s.id == c.mediation_structure_id).outerjoin(
                _LINE, line.serial == c.serial
            )
        )
        .where(
            c.programme_code == programme.code,
            c.status == ChequeStatus.REDEEMED.value,
            c.redeemed_on < end,
            s.programme_id == programme.id,
            line.id.is_(None),
        )
        .order_by(c.mediation_structure_id, c.redeemed_on, c.serial)
    )
    if structure_id is not None:
        query = query.where(c.mediation_structure_id == structure_id)
    cheques = session.execute(query).all()
    if not cheques:
        return report
    existing = {
        st.mediation_structure_id: st
        for st in session.exec(
            select(Statement)
            .where(Statement.programme_code == programme.code, Statement.month == month)
            .with_for_update()  # PostgreSQL: a validation waits, then sees the lines added
        ).all()
    }
    sequence = _last_sequence(existing.values())
    value = programme.cheque_value_cents
    created = updated = added = 0
    for structure, rows in groupby(cheques, key=lambda r: r.mediation_structure_id):
        taken = list(rows)
        statement = existing.get(structure)
        if statement is None:
            sequence += 1
            statement = Statement(
                number=statement_number(month, sequence),
                programme_code=programme.code,
                mediation_structure_id=structure,
                month=month,
                status=StatementStatus.DRAFT.value,
                issuer_name=programme.issuer_name,
                built_at=at,
                updated_at=at,
            )
            session.add(statement)
            session.flush()  # its id, for the lines
            created += 1
        elif statement.status != StatementStatus.DRAFT:
            continue  # validated: these late cheques go to the next month's statement
        else:
            updated += 1
            statement.issuer_name = programme.issuer_name
            statement.updated_at = at
        session.execute(
            insert(_LINE),
            [
                {
                    "statement_id": statement.id,
                    "serial": r.serial,
                    "session_day": r.redeemed_on,
                    "amount_cents": value,
                    "added_at": at,
                }
                for r in taken
            ],
        )
        statement.cheque_count += len(taken)
        statement.total_cents += len(taken) * value
        added += len(taken)
    return StatementsBuilt(
        month=month,
        created=report.created + created,
        updated=report.updated + updated,
        cheques=report.cheques + added,
        amount_cents=report.amount_cents + added * value,
    )


def _last_sequence(statements: Any) -> int:
    """The highest sequence among a month's statement numbers (RB-2026-11-0003 -> 3)."""
    return max((int(st.number.rsplit("-", 1)[1]) for st in statements), default=0)


# ---- a coordinator's changes ----


def validate(
    session: Session,
    statement: Statement,
    *,
    account_id: int,
    at: datetime,
    expected_cheque_count: int | None = None,
    expected_total_cents: int | None = None,
) -> Statement:
    """DRAFT -> ISSUED. With what the coordinator saw (`expected_*`), refused if a build
    added late entries since."""
    status = StatementStatus(statement.status)
    if status != StatementStatus.DRAFT:
        raise StatementRefused(
            RefusalKind.WRONG_STAGE,
            "statement_not_draft",
            msg_statement_not_draft(statement.number, status.label),
        )
    if (expected_cheque_count is not None and expected_cheque_count != statement.cheque_count) or (
        expected_total_cents is not None and expected_total_cents != statement.total_cents
    ):
        raise StatementRefused(
            RefusalKind.CONFLICT, "statement_changed", msg_statement_changed(statement.number)
        )
    statement.status = StatementStatus.ISSUED.value
    statement.validated_at = at
    statement.validated_by = account_id
    statement.updated_at = at
    session.add(statement)
    session.flush()
    return statement


def record_payment(
    session: Session,
    statement: Statement,
    *,
    paid_on: date,
    reference: str,
    account_id: int,
    at: datetime,
) -> Statement:
    """ISSUED -> PAID on `paid_on` (a day between the validation and today, Europe/Paris)
    with the payment's reference; the statement's cheques become REIMBURSED."""
    status = StatementStatus(statement.status)
    if status != StatementStatus.ISSUED:
        raise StatementRefused(
            RefusalKind.WRONG_STAGE,
            "statement_not_issued",
            msg_statement_not_issued(statement.number, status.label),
        )
    reference = reference.strip()
    if not reference:
        raise StatementRefused(
            RefusalKind.INVALID_INPUT,
            "payment_reference_missing",
            MSG_PAYMENT_REFERENCE_MISSING,
            "payment_reference",
        )
    today = paris_day(at)
    if paid_on > today:
        raise StatementRefused(
            RefusalKind.INVALID_INPUT, "paid_on_in_future", msg_payment_in_future(today), "paid_on"
        )
    validated_on = paris_day(statement.validated_at) if statement.validated_at else None
    if validated_on is not None and paid_on < validated_on:
        raise StatementRefused(
            RefusalKind.INVALID_INPUT,
            "paid_before_validation",
            msg_payment_before_validation(validated_on),
            "paid_on",
        )
    statement.status = StatementStatus.PAID.value
    statement.paid_on = paid_on
    statement.payment_reference = reference
    statement.paid_recorded_at = at
    statement.paid_recorded_by = account_id
    statement.updated_at = at
    session.add(statement)
    c = _CHEQUE.c
    session.execute(
        update(_CHEQUE)
        .where(
            c.serial.in_(select(_LINE.c.serial).where(_LINE.c.statement_id == statement.id)),
            # Through a function: SQLite would otherwise pick the status index (tens of
            # thousands of REDEEMED cheques) over the serials' primary key (bench/statements.py).
            func.coalesce(c.status, "") == ChequeStatus.REDEEMED.value,
        )
        .values(status=ChequeStatus.REIMBURSED.value, updated_at=at)
    )
    session.flush()
    return statement


# ---- reads ----


@dataclass(frozen=True)
class StatementScope:
    """The statements a reader may see: all of a programme, those of the structures of one
    EPCI, or one structure's (api/access.py builds it from the user)."""

    everything: bool = False
    epci_id: int | None = None
    mediation_structure_id: int | None = None

    def contains(self, statement: Statement, structure_epci_id: int | None) -> bool:
        if self.everything:
            return True
        if self.mediation_structure_id is not None:
            return statement.mediation_structure_id == self.mediation_structure_id
        return self.epci_id is not None and structure_epci_id == self.epci_id


@dataclass(frozen=True)
class StatementRow:
    statement: Statement
    structure_name: str
    structure_epci_id: int


@dataclass(frozen=True)
class StatementFilter:
    month: date | None = None
    mediation_structure_id: int | None = None
    status: StatementStatus | None = None


def list_statements(
    session: Session,
    *,
    programme_code: int,
    scope: StatementScope,
    filters: StatementFilter = StatementFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[StatementRow], int]:
    """Statements in scope, newest month first, then by number; and how many in all."""
    conditions: list[Any] = [Statement.programme_code == programme_code]
    if not scope.everything:
        if scope.mediation_structure_id is not None:
            conditions.append(Statement.mediation_structure_id == scope.mediation_structure_id)
        elif scope.epci_id is not None:
            conditions.append(MediationStructure.epci_id == scope.epci_id)
        else:
            return [], 0
    if filters.month is not None:
        conditions.append(Statement.month == filters.month.replace(day=1))
    if filters.mediation_structure_id is not None:
        conditions.append(Statement.mediation_structure_id == filters.mediation_structure_id)
    if filters.status is not None:
        conditions.append(Statement.status == filters.status.value)
    joined = col(MediationStructure.id) == col(Statement.mediation_structure_id)
    total = session.exec(
        select(func.count())
        .select_from(Statement)
        .join(MediationStructure, joined)
        .where(*conditions)
    ).one()
    rows = session.exec(
        select(Statement, MediationStructure.name, MediationStructure.epci_id)
        .join(MediationStructure, joined)
        .where(*conditions)
        .order_by(col(Statement.month).desc(), col(Statement.number))
        .limit(limit)
        .offset(offset)
    ).all()
    return [StatementRow(st, name, epci) for st, name, epci in rows], int(total)


def get_statement(
    session: Session, statement_id: int, *, for_update: bool = False
) -> StatementRow | None:
    """The statement and its structure's name and EPCI. `for_update` (before a change, on
    PostgreSQL): locks the row, so that a build adding late entries meanwhile is seen
    (SQLite serialises writers already: `begin_write`)."""
    query = (
        select(Statement, MediationStructure.name, MediationStructure.epci_id)
        .join(
            MediationStructure,
            col(MediationStructure.id) == col(Statement.mediation_structure_id),
        )
        .where(Statement.id == statement_id)
    )
    if for_update:
        query = query.with_for_update(of=Statement)  # type: ignore[arg-type]
    found = session.exec(query).first()
    if found is None:
        return None
    statement, name, epci = found
    return StatementRow(statement, name, epci)


def statement_lines(session: Session, statement_id: int) -> Sequence[StatementLine]:
    """The statement's cheques by session day, then serial."""
    return session.exec(
        select(StatementLine)
        .where(StatementLine.statement_id == statement_id)
        .order_by(col(StatementLine.session_day), col(StatementLine.serial))
    ).all()


def statement_months(session: Session, programme_code: int) -> list[date]:
    """The months that have statements, newest first (the pages' month filter)."""
    found = session.scalars(
        select(col(Statement.month))
        .where(Statement.programme_code == programme_code)
        .distinct()
        .order_by(col(Statement.month).desc())
    )
    return list(found)
