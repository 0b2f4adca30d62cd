"""The structures directory: address, contact, opening hours and an active flag on reception
and mediation structures, the national schema's identifier on mediation structures (unique
per programme: the key of imports), and the history of APTIC qualification periods (the
period in force of every existing structure is copied in as its first entry).

Revision ID: 0018
Revises: 0019
Create Date: 2026-12-01 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _contact_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("siret", sa.String(length=14), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("postal_code", sa.String(length=5), nullable=True),
        sa.Column("insee_code", sa.String(length=5), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("opening_hours", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    ]


def upgrade() -> None:
    with op.batch_alter_table("reception_structure", schema=None) as batch_op:
        for column in _contact_columns():
            batch_op.add_column(column)
    with op.batch_alter_table("mediation_structure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=80), nullable=True))
        for column in _contact_columns():
            batch_op.add_column(column)
        batch_op.create_unique_constraint(
            "uq_mediation_structure_programme_id_external_id", ["programme_id", "external_id"]
        )
    op.create_table(
        "mediation_qualification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=False),
        sa.Column("qualified_from", sa.Date(), nullable=False),
        sa.Column("qualified_until", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(["mediation_structure_id"], ["mediation_structure.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mediation_qualification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mediation_qualification_mediation_structure_id",
            ["mediation_structure_id"],
            unique=False,
        )
    op.execute(
        "INSERT INTO mediation_qualification (mediation_structure_id, qualified_from,"
        " qualified_until, recorded_at, account_id, source)"
        " SELECT id, aptic_qualified_from, aptic_qualified_until, CURRENT_TIMESTAMP, NULL,"
        " 'migration' FROM mediation_structure"
    )


def downgrade() -> None:
    with op.batch_alter_table("mediation_qualification", schema=None) as batch_op:
        batch_op.drop_index("ix_mediation_qualification_mediation_structure_id")
    op.drop_table("mediation_qualification")
    names = ["active", "opening_hours", "phone", "insee_code", "postal_code", "address", "siret"]
    with op.batch_alter_table("mediation_structure", schema=None) as batch_op:
        batch_op.drop_constraint("uq_mediation_structure_programme_id_external_id", type_="unique")
        for name in names:
            batch_op.drop_column(name)
        batch_op.drop_column("external_id")
    with op.batch_alter_table("reception_structure", schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)
