"""Booklet stock handed to reception structures, the programme's target; the frozen
`current_millesime` goes (a booklet's millésime follows the date: domain.millesimes).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booklet_stock_range",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("millesime", sa.Integer(), nullable=False),
        sa.Column("reception_structure_id", sa.Integer(), nullable=False),
        sa.Column("first_number", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allocated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reception_structure_id"],
            ["reception_structure.id"],
            name=op.f("fk_booklet_stock_range_reception_structure_id_reception_structure"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booklet_stock_range")),
    )
    op.create_index(
        op.f("ix_booklet_stock_range_programme_code"),
        "booklet_stock_range",
        ["programme_code"],
    )
    op.create_index(
        op.f("ix_booklet_stock_range_reception_structure_id"),
        "booklet_stock_range",
        ["reception_structure_id"],
    )
    with op.batch_alter_table("programme") as batch_op:
        batch_op.add_column(sa.Column("target_booklets", sa.Integer(), nullable=True))
        batch_op.drop_column("current_millesime")


def downgrade() -> None:
    with op.batch_alter_table("programme") as batch_op:
        batch_op.add_column(
            sa.Column("current_millesime", sa.Integer(), nullable=False, server_default="2026")
        )
        batch_op.drop_column("target_booklets")
    op.drop_index(
        op.f("ix_booklet_stock_range_reception_structure_id"), table_name="booklet_stock_range"
    )
    op.drop_index(op.f("ix_booklet_stock_range_programme_code"), table_name="booklet_stock_range")
    op.drop_table("booklet_stock_range")
