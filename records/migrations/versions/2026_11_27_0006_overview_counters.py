"""Coordinators' overview: counters per (programme, EPCI, stage, stalled, outcome) and the
histogram of days to a first session, kept by the projection; back-filled here from the
journeys already recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 21:55:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same GROUP BY as records.overview_counts.rebuild (plain SQL: a migration must not
# change when the application code does).
BACKFILL = (
    """
    INSERT INTO overview_count (programme_code, epci_id, stage, stalled, outcome,
                                journeys, cheques_total, cheques_redeemed)
    SELECT programme_code, epci_id, stage, stalled, COALESCE(outcome, ''),
           count(*), COALESCE(sum(cheques_total), 0), COALESCE(sum(cheques_redeemed), 0)
    FROM journey
    GROUP BY programme_code, epci_id, stage, stalled, COALESCE(outcome, '')
    """,
    """
    INSERT INTO overview_first_session (programme_code, epci_id, days, journeys)
    SELECT programme_code, epci_id, days_to_first_session, count(*)
    FROM journey
    WHERE days_to_first_session IS NOT NULL
    GROUP BY programme_code, epci_id, days_to_first_session
    """,
)


def upgrade() -> None:
    op.create_table(
        "overview_count",
        sa.Column("programme_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epci_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("cheques_total", sa.Integer(), nullable=False),
        sa.Column("cheques_redeemed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code", "epci_id", "stage", "stalled", "outcome", name="pk_overview_count"
        ),
    )
    op.create_table(
        "overview_first_session",
        sa.Column("programme_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epci_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code", "epci_id", "days", name="pk_overview_first_session"
        ),
    )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("overview_first_session")
    op.drop_table("overview_count")
