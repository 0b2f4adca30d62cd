"""Cheque security codes: each cheque's code sealed with the programme's code key, wrong
codes counted per booklet, a booklet locked after too many, a slip to reprint for
booklets issued before codes existed.

The codes of cheques already issued are created by `records.cheque_codes.ensure_codes`,
which `passnum migrate` runs right after this migration (it needs the code key, which
is a setting, not something Alembic knows).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cheque", schema=None) as batch_op:
        batch_op.add_column(sa.Column("security_code", sa.String(length=120), nullable=True))
    with op.batch_alter_table("booklet_allocation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("slip_to_reprint_since", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("booklet_locked_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "cheque_code_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.String(length=32), nullable=False),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_cheque_code_failure_journey_id_cleared_at",
        "cheque_code_failure",
        ["journey_id", "cleared_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_cheque_code_failure_journey_id_cleared_at", table_name="cheque_code_failure")
    op.drop_table("cheque_code_failure")
    with op.batch_alter_table("journey", schema=None) as batch_op:
        batch_op.drop_column("booklet_locked_at")
    with op.batch_alter_table("booklet_allocation", schema=None) as batch_op:
        batch_op.drop_column("slip_to_reprint_since")
    with op.batch_alter_table("cheque", schema=None) as batch_op:
        batch_op.drop_column("security_code")
