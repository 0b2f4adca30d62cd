"""Many programmes in one instance: an account's role in programmes other than its own,
and the programme a web session has chosen.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-01 03:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programme_membership",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("programme_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reception_structure_id", sa.Integer(), nullable=True),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=True),
        sa.Column("epci_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_programme_membership_account_id")
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "programme_code", name=op.f("pk_programme_membership")
        ),
    )
    op.create_index(
        "ix_programme_membership_programme_code",
        "programme_membership",
        ["programme_code"],
        unique=False,
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("programme_code", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_column("programme_code")
    op.drop_index("ix_programme_membership_programme_code", table_name="programme_membership")
    op.drop_table("programme_membership")
