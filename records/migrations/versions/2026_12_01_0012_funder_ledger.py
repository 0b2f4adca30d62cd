"""The funder ledger: the programme's funding rule, one entry per (cheque, kind, funder),
their monthly sums, and the end of each millésime.

The default funding rule and the entries of cheques issued before this revision are
written by `records.ledger.ensure_ledger`, which `passnum migrate` runs after the
migrations (it applies the current rule, application code: a migration must not change
when the application code does).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 00:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The entries list, newest first (month, then id), per funder, per EPCI or all; the
# closure's sums per millésime.
INDEXES = (
    ("programme_code", "funder_id", "month", "id"),
    ("programme_code", "epci_id", "month", "id"),
    ("programme_code", "month", "id"),
    ("programme_code", "millesime", "kind"),
)


def upgrade() -> None:
    op.create_table(
        "funding_rule_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["epci_id"], ["epci.id"], name=op.f("fk_funding_rule_line_epci_id")
        ),
        sa.ForeignKeyConstraint(
            ["funder_id"], ["funder.id"], name=op.f("fk_funding_rule_line_funder_id")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_funding_rule_line_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_rule_line")),
        sa.UniqueConstraint("funder_id", name=op.f("uq_funding_rule_line_funder_id")),
    )
    op.create_index(
        op.f("ix_funding_rule_line_programme_id"),
        "funding_rule_line",
        ["programme_id"],
        unique=False,
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("millesime", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint(
            "serial", "kind", "funder_id", name=op.f("uq_ledger_entry_serial_kind_funder_id")
        ),
    )
    for columns in INDEXES:
        op.create_index(
            "ix_ledger_entry_" + "_".join(columns), "ledger_entry", list(columns), unique=False
        )
    op.create_table(
        "ledger_month",
        sa.Column("programme_code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("funder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epci_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("month", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "programme_code", "funder_id", "epci_id", "kind", "month", name=op.f("pk_ledger_month")
        ),
    )
    op.create_table(
        "millesime_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("millesime", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("first_checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_cents", sa.Integer(), nullable=False),
        sa.Column("returned", sa.JSON(), nullable=False),
        sa.Column("unexpired", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_millesime_closure")),
        sa.UniqueConstraint(
            "programme_code",
            "millesime",
            name=op.f("uq_millesime_closure_programme_code_millesime"),
        ),
    )


def downgrade() -> None:
    op.drop_table("millesime_closure")
    op.drop_table("ledger_month")
    for columns in reversed(INDEXES):
        op.drop_index("ix_ledger_entry_" + "_".join(columns), table_name="ledger_entry")
    op.drop_table("ledger_entry")
    op.drop_index(op.f("ix_funding_rule_line_programme_id"), table_name="funding_rule_line")
    op.drop_table("funding_rule_line")
