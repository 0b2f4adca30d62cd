"""What the API and the pages ask of reimbursement statements: reads in scope, the
documents, and a coordinator's changes (validate, record the payment, build a draft
again), each authorised by api/access.py and made in one unit of work.

Changes carry an idempotency key (the API's `Idempotency-Key`, a page form's UUID),
claimed in the same transaction as the change (`api.idempotency.claim`): the same request
sent again changes nothing and answers the statement as it is; another request with the
same key is refused (409). A refused change rolls back with its claim: the corrected
request may use the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio.to_thread
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api import access
from api import programme_reads as reads
from api.auth import User
from api.deps import AppState
from api.errors import ApiError
from api.idempotency import claim, fingerprint
from api.statement_documents import StatementDocument, render_pdf
from domain import clock
from domain.refusals import MSG_STATEMENT_BUSY, RefusalKind, msg_statement_not_draft
from domain.statements import StatementsBuilt, StatementStatus
from records import models, queries
from records import statements as records

_STATUS_BY_KIND = {
    RefusalKind.INVALID_INPUT: 422,
    RefusalKind.WRONG_STAGE: 409,
    RefusalKind.CONFLICT: 409,
}


def refusal(err: records.StatementRefused) -> ApiError:
    details = [{"field": err.field, "message": err.message}] if err.field else None
    return ApiError(_STATUS_BY_KIND.get(err.kind, 409), err.code, err.message, details)


@dataclass(frozen=True)
class StatementList:
    rows: list[records.StatementRow]
    total: int
    structures: dict[int, str]  # the structures in scope, for the filters
    months: list[date]


class StatementService:
    def __init__(self, state: AppState) -> None:
        self.state = state
        self.settings = state.settings

    # ---- reads ----

    async def list(
        self,
        user: User,
        filters: records.StatementFilter,
        *,
        limit: int,
        offset: int,
    ) -> StatementList:
        if not access.may_read_statements(user):
            raise access.forbidden(
                "Les relevés de remboursement sont réservés à la médiation et à la coordination."
            )
        scope = access.statement_scope(user)
        code = user.programme_code

        def read(session: Session) -> StatementList:
            rows, total = records.list_statements(
                session,
                programme_code=code,
                scope=scope,
                filters=filters,
                limit=limit,
                offset=offset,
            )
            structures = {
                m.id: m.name
                for m in queries.list_mediation_structures(session, code)
                if m.id is not None
                and (
                    scope.everything
                    or m.id == scope.mediation_structure_id
                    or (scope.epci_id is not None and m.epci_id == scope.epci_id)
                )
            }
            return StatementList(rows, total, structures, records.statement_months(session, code))

        return await self.state.db.run(read)

    async def row(self, user: User, statement_id: int) -> records.StatementRow:
        return await self.state.db.run(
            lambda s: access.require_statement_visible(user, records.get_statement(s, statement_id))
        )

    async def row_for_change(self, user: User, statement_id: int) -> records.StatementRow:
        """The statement if `user` may change it (404, 403 otherwise)."""
        return await self.state.db.run(
            lambda s: access.require_statement_change(user, records.get_statement(s, statement_id))
        )

    async def document(self, user: User, statement_id: int) -> StatementDocument:
        """The statement with its lines, if `user` may read it (404 otherwise)."""
        code = user.programme_code

        def read(session: Session) -> StatementDocument:
            row = access.require_statement_visible(
                user, records.get_statement(session, statement_id)
            )
            st = row.statement
            assert st.id is not None
            programme = reads.programme(session, code)
            structure = session.get(models.MediationStructure, st.mediation_structure_id)
            people = queries.account_names(
                session, [i for i in (st.validated_by, st.paid_recorded_by) if i is not None]
            )
            return StatementDocument(
                statement=st,
                lines=records.statement_lines(session, st.id),
                programme_name=programme.name,
                structure_name=row.structure_name,
                structure_commune=structure.commune if structure else "",
                validated_by=people.get(st.validated_by) if st.validated_by else None,
                paid_recorded_by=people.get(st.paid_recorded_by) if st.paid_recorded_by else None,
            )

        return await self.state.db.run(read)

    async def pdf(self, doc: StatementDocument) -> bytes:
        printed_at = clock.now()
        return await anyio.to_thread.run_sync(lambda: render_pdf(doc, printed_at=printed_at))

    # ---- changes ----

    async def validate(
        self,
        user: User,
        statement_id: int,
        *,
        key: str | None,
        expected_cheque_count: int | None = None,
        expected_total_cents: int | None = None,
    ) -> records.StatementRow:
        """DRAFT -> ISSUED (with what the coordinator saw, if given)."""
        request = {
            "account": user.id,
            "expected_cheque_count": expected_cheque_count,
            "expected_total_cents": expected_total_cents,
        }
        return await self._change(
            user,
            statement_id,
            "validate",
            key,
            request,
            lambda session, st: records.validate(
                session,
                st,
                account_id=user.id,
                at=clock.now(),
                expected_cheque_count=expected_cheque_count,
                expected_total_cents=expected_total_cents,
            ),
        )

    async def record_payment(
        self,
        user: User,
        statement_id: int,
        *,
        key: str | None,
        paid_on: date,
        reference: str,
    ) -> records.StatementRow:
        """ISSUED -> PAID; the statement's cheques become REIMBURSED."""
        request = {"account": user.id, "paid_on": paid_on, "reference": reference.strip()}
        return await self._change(
            user,
            statement_id,
            "payment",
            key,
            request,
            lambda session, st: records.record_payment(
                session,
                st,
                paid_on=paid_on,
                reference=reference,
                account_id=user.id,
                at=clock.now(),
            ),
        )

    async def refresh(self, user: User, statement_id: int) -> StatementsBuilt:
        """Build a DRAFT again: it takes the cheques of its structure logged since (late
        entries). Naturally idempotent: run twice, the second adds nothing."""

        def run(session: Session) -> StatementsBuilt:
            row = access.require_statement_change(
                user, records.get_statement(session, statement_id, for_update=True)
            )
            st = row.statement
            status = StatementStatus(st.status)
            if status != StatementStatus.DRAFT:
                raise ApiError(
                    409, "statement_not_draft", msg_statement_not_draft(st.number, status.label)
                )
            return records.build_statements(
                session,
                month=st.month,
                at=clock.now(),
                programme_code=st.programme_code,
                mediation_structure_id=st.mediation_structure_id,
            )

        try:
            return await self.state.db.run(run, write=True)
        except IntegrityError:  # the monthly build ran at the same instant: its lines stand
            raise ApiError(409, "statement_busy", MSG_STATEMENT_BUSY) from None

    async def _change(
        self,
        user: User,
        statement_id: int,
        name: str,
        key: str | None,
        request: dict[str, Any],
        change: Callable[[Session, models.Statement], object],
    ) -> records.StatementRow:
        secret = self.settings.secret_key.get_secret_value()
        print_ = fingerprint(secret, request)

        def run(session: Session) -> records.StatementRow:
            row = access.require_statement_change(
                user, records.get_statement(session, statement_id, for_update=True)
            )
            if key:
                first = claim(
                    session, scope=f"statement:{statement_id}:{name}", key=key, fingerprint=print_
                )
                if not first:
                    return row  # sent again: done the first time, nothing changes
            try:
                change(session, row.statement)
            except records.StatementRefused as err:
                raise refusal(err) from None  # the rollback takes the claim back
            return row

        return await self.state.db.run(run, write=True)
