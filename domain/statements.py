"""Reimbursement statements (*contre-paiement*): what a statement is, its states and their
order, its number, and the contract of the monthly job that builds them.

Each month a mediation structure is paid back for the cheques it took: one numbered
statement per structure and month lists every cheque redeemed (serial, session day,
amount). The monthly job (workflows/statements.py, a Temporal Schedule on the 1st at
06:00 Europe/Paris) builds the DRAFT statements of the month before; a coordinator
validates one (ISSUED), then records its payment (PAID): its cheques become REIMBURSED.

A cheque is in exactly one statement. A cheque whose session was logged after its month's
statement was validated (a *late entry*) goes into the next statement built for its
structure; a DRAFT takes late entries in whenever it is built again, until validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.labels import Labelled, labels


class StatementStatus(Labelled):
    DRAFT = "DRAFT"
    ISSUED = "ISSUED"
    PAID = "PAID"


STATEMENT_STATUS_LABELS = labels(
    StatementStatus,
    {
        StatementStatus.DRAFT: "Brouillon",
        StatementStatus.ISSUED: "Validé, à payer",
        StatementStatus.PAID: "Payé",
    },
)

# The one order of a statement's life: validated once, paid once.
NEXT_STATUS: dict[StatementStatus, StatementStatus] = {
    StatementStatus.DRAFT: StatementStatus.ISSUED,
    StatementStatus.ISSUED: StatementStatus.PAID,
}

NUMBER_PREFIX = "RB"


def statement_number(month: date, sequence: int) -> str:
    """'RB-2026-11-0003': the third statement of November 2026 in the programme."""
    return f"{NUMBER_PREFIX}-{month.year:04d}-{month.month:02d}-{sequence:04d}"


# ---- the monthly job (a Temporal Schedule; opaque values only) ----

STATEMENTS_WORKFLOW_NAME = "MonthlyStatementsWorkflow"
STATEMENTS_SCHEDULE_ID = "passnum-monthly-statements"
ACTIVITY_BUILD_STATEMENTS = "build_monthly_statements"
STATEMENTS_DAY = 1  # of the month, Europe/Paris
STATEMENTS_HOUR = 6


@dataclass(frozen=True)
class StatementsInput:
    """The month to build (its first day); None: the month before the run's Paris day."""

    month: date | None = None


@dataclass(frozen=True)
class BuildStatements:
    month: date  # first day of the month
    at: datetime  # the run's instant, written as the statements' build time


@dataclass(frozen=True)
class StatementsBuilt:
    month: date
    created: int = 0  # statements created by this build
    updated: int = 0  # drafts that took more cheques (late entries, a retried build)
    cheques: int = 0  # cheques added to statements by this build
    amount_cents: int = 0  # their value
