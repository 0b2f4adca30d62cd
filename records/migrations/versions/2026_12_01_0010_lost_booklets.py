"""Lost booklets: a journey may hold several booklet allocations (the first, then one per
replacement of a booklet declared lost), each lost one with when, the day and why.

Revision ID: 0010
Revises: 0013
Create Date: 2026-12-01 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booklet_allocation", schema=None) as batch_op:
        batch_op.drop_constraint("uq_booklet_allocation_journey_id", type_="unique")
        batch_op.add_column(sa.Column("sequence", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("replaces_booklet_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lost_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lost_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("lost_reason", sa.String(length=12), nullable=True))
        batch_op.create_unique_constraint(
            "uq_booklet_allocation_journey_id_sequence", ["journey_id", "sequence"]
        )


def downgrade() -> None:
    # A journey with a replaced booklet keeps its latest allocation only (one per journey).
    op.execute(
        "DELETE FROM booklet_allocation WHERE sequence < ("
        "SELECT MAX(b.sequence) FROM booklet_allocation b"
        " WHERE b.journey_id = booklet_allocation.journey_id)"
    )
    with op.batch_alter_table("booklet_allocation", schema=None) as batch_op:
        batch_op.drop_constraint("uq_booklet_allocation_journey_id_sequence", type_="unique")
        batch_op.drop_column("lost_reason")
        batch_op.drop_column("lost_on")
        batch_op.drop_column("lost_at")
        batch_op.drop_column("replaces_booklet_number")
        batch_op.drop_column("sequence")
        batch_op.create_unique_constraint("uq_booklet_allocation_journey_id", ["journey_id"])
