"""Free texts typed by professionals (reasons, comments, nudge messages): written to the
records, the workflow carrying only their id; the transition log names the one typed with
each change.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01 12:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "free_text",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("author_ref", sa.String(length=120), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_free_text_journey_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_free_text")),
    )
    op.create_index(op.f("ix_free_text_journey_id"), "free_text", ["journey_id"], unique=False)
    with op.batch_alter_table("transition_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("free_text_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transition_log", schema=None) as batch_op:
        batch_op.drop_column("free_text_id")
    op.drop_index(op.f("ix_free_text_journey_id"), table_name="free_text")
    op.drop_table("free_text")
