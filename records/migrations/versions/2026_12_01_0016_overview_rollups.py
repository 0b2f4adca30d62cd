"""The overview's counters rolled up to (programme, EPCI, millésime, month of referral) and to
(programme, EPCI, millésime): what the overview reads when no structure (and no month) is
filtered (records.overview_counts), numbers of rows that do not grow with the journeys.
Counted here from the journeys.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = "programme_code, epci_id, COALESCE(millesime, 0)"
_MONTHLY = f"{_KEY}, COALESCE(referred_month, 0)"
# The same GROUP BY as records.overview_counts.rebuild, frozen here.
BACKFILL = (
    f"""
    INSERT INTO overview_monthly (programme_code, epci_id, millesime, referred_month, stage,
                                  stalled, outcome, journeys, cheques_total, cheques_redeemed)
    SELECT {_MONTHLY}, stage, stalled, COALESCE(outcome, ''),
           count(*), COALESCE(sum(cheques_total), 0), COALESCE(sum(cheques_redeemed), 0)
    FROM journey
    GROUP BY {_MONTHLY}, stage, stalled, COALESCE(outcome, '')
    """,
    f"""
    INSERT INTO overview_monthly_first_session (programme_code, epci_id, millesime,
                                                referred_month, days, journeys)
    SELECT {_MONTHLY}, days_to_first_session, count(*)
    FROM journey
    WHERE days_to_first_session IS NOT NULL
    GROUP BY {_MONTHLY}, days_to_first_session
    """,
    f"""
    INSERT INTO overview_total (programme_code, epci_id, millesime, stage, stalled, outcome,
                                journeys, cheques_total, cheques_redeemed)
    SELECT {_KEY}, stage, stalled, COALESCE(outcome, ''),
           count(*), COALESCE(sum(cheques_total), 0), COALESCE(sum(cheques_redeemed), 0)
    FROM journey
    GROUP BY {_KEY}, stage, stalled, COALESCE(outcome, '')
    """,
    f"""
    INSERT INTO overview_total_first_session (programme_code, epci_id, millesime, days,
                                              journeys)
    SELECT {_KEY}, days_to_first_session, count(*)
    FROM journey
    WHERE days_to_first_session IS NOT NULL
    GROUP BY {_KEY}, days_to_first_session
    """,
)


# The overview filtered on one structure over the whole programme reads that structure's rows.
INDEXED = [
    (table, column)
    for table in ("overview_count", "overview_first_session")
    for column in ("reception_structure_id", "mediation_structure_id")
]


def _key(*more: str) -> list[sa.Column]:
    return [
        sa.Column(name, sa.Integer(), autoincrement=False, nullable=False)
        for name in ("programme_code", "epci_id", "millesime", *more)
    ]


def upgrade() -> None:
    op.create_table(
        "overview_monthly",
        *_key("referred_month"),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("cheques_total", sa.Integer(), nullable=False),
        sa.Column("cheques_redeemed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code",
            "epci_id",
            "millesime",
            "referred_month",
            "stage",
            "stalled",
            "outcome",
            name="pk_overview_monthly",
        ),
    )
    op.create_table(
        "overview_monthly_first_session",
        *_key("referred_month"),
        sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code",
            "epci_id",
            "millesime",
            "referred_month",
            "days",
            name="pk_overview_monthly_first_session",
        ),
    )
    op.create_table(
        "overview_total",
        *_key(),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.Column("cheques_total", sa.Integer(), nullable=False),
        sa.Column("cheques_redeemed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code",
            "epci_id",
            "millesime",
            "stage",
            "stalled",
            "outcome",
            name="pk_overview_total",
        ),
    )
    op.create_table(
        "overview_total_first_session",
        *_key(),
        sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("journeys", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code", "epci_id", "millesime", "days", name="pk_overview_total_first_session"
        ),
    )
    for statement in BACKFILL:
        op.execute(statement)
    for table, column in INDEXED:
        op.create_index(f"ix_{table}_programme_code_{column}", table, ["programme_code", column])


def downgrade() -> None:
    for table, column in INDEXED:
        op.drop_index(f"ix_{table}_programme_code_{column}", table_name=table)
    op.drop_table("overview_total_first_session")
    op.drop_table("overview_total")
    op.drop_table("overview_monthly_first_session")
    op.drop_table("overview_monthly")
