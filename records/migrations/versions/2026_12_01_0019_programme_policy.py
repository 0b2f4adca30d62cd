"""A programme's calendar policy (issue 11): stall reminder and deadline per open stage,
orientation reminder and expiry, retention before anonymisation, edited by administrators;
and the policy each journey was referred with (`journey_policy`, for the pages).
Existing programmes get today's defaults (domain.policy, frozen here).

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-01 02:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# domain.policy's defaults on 01/12/2026.
DEFAULTS = {
    "referred_reminder_days": 10,
    "referred_stalled_days": 20,
    "assessed_reminder_days": 10,
    "assessed_stalled_days": 20,
    "booklet_issued_reminder_days": 10,
    "booklet_issued_stalled_days": 20,
    "in_training_reminder_days": 30,
    "in_training_stalled_days": 60,
    "orientation_reminder_days": 10,
    "orientation_expiry_days": 30,
    "retention_days": 730,
}


def upgrade() -> None:
    op.create_table(
        "programme_policy",
        sa.Column("programme_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in DEFAULTS),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_programme_policy_programme_id"),
        ),
        sa.PrimaryKeyConstraint("programme_id", name=op.f("pk_programme_policy")),
    )
    op.create_table(
        "journey_policy",
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", name=op.f("pk_journey_policy")),
    )
    columns = ", ".join(DEFAULTS)
    values = ", ".join(str(v) for v in DEFAULTS.values())
    op.execute(
        f"INSERT INTO programme_policy (programme_id, {columns}) SELECT id, {values} FROM programme"
    )


def downgrade() -> None:
    op.drop_table("journey_policy")
    op.drop_table("programme_policy")
