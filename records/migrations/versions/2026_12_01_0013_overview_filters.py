"""The overview's filters: each journey's month of referral (Europe/Paris), and counters
kept per reception structure, mediation structure, millésime and month of referral besides
EPCI, stage, stalled and outcome (records.overview_counts). Recounted here from the
journeys.

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 12:00:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARIS = ZoneInfo("Europe/Paris")
DIMENSIONS = (
    "programme_code",
    "epci_id",
    "reception_structure_id",
    "mediation_structure_id",
    "millesime",
    "referred_month",
)
# The same GROUP BY as records.overview_counts.rebuild, frozen here (plain SQL: a migration
# must not change when the application code does).
_DIMS = ", ".join(f"COALESCE({d}, 0)" for d in DIMENSIONS)
BACKFILL = (
    f"""
    INSERT INTO overview_count ({", ".join(DIMENSIONS)}, stage, stalled, outcome,
                                journeys, cheques_total, cheques_redeemed)
    SELECT {_DIMS}, stage, stalled, COALESCE(outcome, ''),
           count(*), COALESCE(sum(cheques_total), 0), COALESCE(sum(cheques_redeemed), 0)
    FROM journey
    GROUP BY {_DIMS}, stage, stalled, COALESCE(outcome, '')
    """,
    f"""
    INSERT INTO overview_first_session ({", ".join(DIMENSIONS)}, days, journeys)
    SELECT {_DIMS}, days_to_first_session, count(*)
    FROM journey
    WHERE days_to_first_session IS NOT NULL
    GROUP BY {_DIMS}, days_to_first_session
    """,
)


def _create(name: str, key: list[sa.Column], sums: list[str]) -> None:
    op.create_table(
        name,
        *key,
        *(sa.Column(s, sa.Integer(), nullable=False) for s in sums),
        sa.PrimaryKeyConstraint(*(c.name for c in key), name=f"pk_{name}"),
    )


def _dimension_columns() -> list[sa.Column]:
    return [sa.Column(d, sa.Integer(), autoincrement=False, nullable=False) for d in DIMENSIONS]


def upgrade() -> None:
    with op.batch_alter_table("journey") as batch_op:
        batch_op.add_column(sa.Column("referred_month", sa.Integer(), nullable=True))
    bind = op.get_bind()
    journey = sa.table(
        "journey", sa.column("id", sa.String()), sa.column("referred_at", sa.DateTime())
    )
    rows = bind.execute(sa.select(journey.c.id, journey.c.referred_at)).all()
    months: dict[int, list[str]] = {}
    for journey_id, referred_at in rows:
        if referred_at is None:
            continue
        if referred_at.tzinfo is None:  # SQLite hands naive UTC back
            referred_at = referred_at.replace(tzinfo=UTC)
        day = referred_at.astimezone(PARIS)
        months.setdefault(day.year * 100 + day.month, []).append(journey_id)
    for month, ids in months.items():
        for start in range(0, len(ids), 500):
            bind.execute(
                sa.text("UPDATE journey SET referred_month = :month WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"month": month, "ids": ids[start : start + 500]},
            )
    op.drop_table("overview_first_session")
    op.drop_table("overview_count")
    _create(
        "overview_count",
        [
            *_dimension_columns(),
            sa.Column("stage", sa.String(length=20), nullable=False),
            sa.Column("stalled", sa.Boolean(), nullable=False),
            sa.Column("outcome", sa.String(length=20), nullable=False),
        ],
        ["journeys", "cheques_total", "cheques_redeemed"],
    )
    _create(
        "overview_first_session",
        [
            *_dimension_columns(),
            sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        ],
        ["journeys"],
    )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("overview_first_session")
    op.drop_table("overview_count")
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
    op.execute(
        """
        INSERT INTO overview_count (programme_code, epci_id, stage, stalled, outcome,
                                    journeys, cheques_total, cheques_redeemed)
        SELECT programme_code, epci_id, stage, stalled, COALESCE(outcome, ''), count(*),
               COALESCE(sum(cheques_total), 0), COALESCE(sum(cheques_redeemed), 0)
        FROM journey GROUP BY programme_code, epci_id, stage, stalled, COALESCE(outcome, '')
        """
    )
    op.execute(
        """
        INSERT INTO overview_first_session (programme_code, epci_id, days, journeys)
        SELECT programme_code, epci_id, days_to_first_session, count(*) FROM journey
        WHERE days_to_first_session IS NOT NULL
        GROUP BY programme_code, epci_id, days_to_first_session
        """
    )
    with op.batch_alter_table("journey") as batch_op:
        batch_op.drop_column("referred_month")
