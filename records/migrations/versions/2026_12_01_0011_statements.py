"""Reimbursement statements (contre-paiement): one per mediation structure and month, and
their lines (a cheque in exactly one statement); an index for the monthly build.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("cheque_count", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_by", sa.Integer(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("payment_reference", sa.String(length=100), nullable=True),
        sa.Column("paid_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_recorded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mediation_structure_id"],
            ["mediation_structure.id"],
            name=op.f("fk_statement_mediation_structure_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement")),
        sa.UniqueConstraint(
            "mediation_structure_id",
            "month",
            name=op.f("uq_statement_mediation_structure_id_month"),
        ),
        sa.UniqueConstraint(
            "programme_code", "number", name=op.f("uq_statement_programme_code_number")
        ),
    )
    op.create_index(op.f("ix_statement_month"), "statement", ["month"], unique=False)
    op.create_index(
        op.f("ix_statement_programme_code"), "statement", ["programme_code"], unique=False
    )
    op.create_index(op.f("ix_statement_status"), "statement", ["status"], unique=False)
    op.create_table(
        "statement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("session_day", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["serial"], ["cheque.serial"], name=op.f("fk_statement_line_serial")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statement.id"], name=op.f("fk_statement_line_statement_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_line")),
        sa.UniqueConstraint("serial", name=op.f("uq_statement_line_serial")),
    )
    op.create_index(
        op.f("ix_statement_line_statement_id"), "statement_line", ["statement_id"], unique=False
    )
    op.create_index(
        "ix_cheque_programme_code_status_redeemed_on",
        "cheque",
        ["programme_code", "status", "redeemed_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_cheque_programme_code_status_redeemed_on", table_name="cheque")
    op.drop_index(op.f("ix_statement_line_statement_id"), table_name="statement_line")
    op.drop_table("statement_line")
    op.drop_index(op.f("ix_statement_status"), table_name="statement")
    op.drop_index(op.f("ix_statement_programme_code"), table_name="statement")
    op.drop_index(op.f("ix_statement_month"), table_name="statement")
    op.drop_table("statement")
