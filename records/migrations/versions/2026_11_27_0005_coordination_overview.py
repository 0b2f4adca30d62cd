"""Coordinators' overview: days from referral to the first session on each journey, and
the indexes of the overview and the stalled list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 21:15:16.565569+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Journeys already recorded: their first session from the sessions table (the projection
# keeps the column from now on). Paris days on PostgreSQL; SQLite has no time zones.
BACKFILL = {
    "postgresql": """
        UPDATE journey SET days_to_first_session = first.day
            - (journey.referred_at AT TIME ZONE 'Europe/Paris')::date
        FROM (SELECT journey_id, min(day) AS day FROM training_session GROUP BY journey_id) AS first
        WHERE first.journey_id = journey.id AND journey.referred_at IS NOT NULL
    """,
    "sqlite": """
        UPDATE journey SET days_to_first_session = CAST(
            julianday((SELECT min(day) FROM training_session t WHERE t.journey_id = journey.id))
            - julianday(date(journey.referred_at)) AS INTEGER)
        WHERE journey.referred_at IS NOT NULL
          AND EXISTS (SELECT 1 FROM training_session t WHERE t.journey_id = journey.id)
    """,
}


def upgrade() -> None:
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.add_column(sa.Column("days_to_first_session", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_journey_overview",
            [
                "programme_code",
                "epci_id",
                "stage",
                "stalled",
                "outcome",
                "cheques_total",
                "cheques_redeemed",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_journey_programme_code_days_to_first_session",
            ["programme_code", "days_to_first_session"],
            unique=False,
        )
        batch_op.create_index(
            "ix_journey_programme_code_epci_id_days_to_first_session",
            ["programme_code", "epci_id", "days_to_first_session"],
            unique=False,
        )
        batch_op.create_index(
            "ix_journey_programme_code_stalled_stalled_since",
            ["programme_code", "stalled", "stalled_since"],
            unique=False,
        )
    backfill = BACKFILL.get(op.get_bind().dialect.name)
    if backfill:
        op.execute(backfill)


def downgrade() -> None:
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.drop_index("ix_journey_programme_code_stalled_stalled_since")
        batch_op.drop_index("ix_journey_programme_code_epci_id_days_to_first_session")
        batch_op.drop_index("ix_journey_programme_code_days_to_first_session")
        batch_op.drop_index("ix_journey_overview")
        batch_op.drop_column("days_to_first_session")
