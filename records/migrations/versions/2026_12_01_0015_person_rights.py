"""The person's rights and the administrators' audit log: versioned consent wording (version
1 seeded with the wording in force, pinned by each referral), corrections of a person's
identity, and `admin_audit`, append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 12:00:00+00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of domain.rights.INITIAL_CONSENT_TEXT (a migration never changes meaning).
INITIAL_WORDING = (
    "J'accepte que ma structure d'accueil et les structures du Pass numérique enregistrent "
    "mon identité et mes coordonnées pour organiser mon accompagnement au numérique : "
    "diagnostic de mes besoins, remise d'un carnet de chèques APTIC, orientation vers un "
    "médiateur numérique et suivi de mes séances. Ces informations ne servent qu'à ce "
    "parcours et sont effacées deux ans après ma dernière activité. Je peux demander à les "
    "consulter, les corriger ou les effacer auprès de ma structure d'accueil."
)
APPEND_ONLY = "admin_audit est en ajout seul : une entrée du journal ne se modifie ni ne s'efface"


def upgrade() -> None:
    consent = op.create_table(
        "consent_version",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wording", sa.String(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_consent_version")),
    )
    op.bulk_insert(
        consent,
        [
            {
                "version": 1,
                "wording": INITIAL_WORDING,
                "valid_from": datetime(2020, 1, 1, tzinfo=UTC),
                "published_by": None,
            }
        ],
    )
    op.create_table(
        "person_rectification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_rectification")),
    )
    op.create_index(
        op.f("ix_person_rectification_journey_id"),
        "person_rectification",
        ["journey_id"],
        unique=False,
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
    )
    op.create_index(
        op.f("ix_admin_audit_programme_code"), "admin_audit", ["programme_code"], unique=False
    )
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_version", sa.Integer(), nullable=True))
    # Referrals that recorded version 1's wording were given on it; others keep their text.
    op.execute(
        sa.text("UPDATE beneficiary SET consent_version = 1 WHERE consent_text = :w").bindparams(
            w=INITIAL_WORDING
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION admin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN RAISE EXCEPTION '{APPEND_ONLY.replace(chr(39), chr(39) * 2)}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER admin_audit_no_change BEFORE UPDATE OR DELETE ON admin_audit"
            " FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON admin_audit"
            " FOR EACH STATEMENT EXECUTE FUNCTION admin_audit_append_only()"
        )
    else:
        message = APPEND_ONLY.replace("'", "''")
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER admin_audit_no_{event.lower()} BEFORE {event} ON admin_audit"
                f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER admin_audit_no_truncate ON admin_audit")
        op.execute("DROP TRIGGER admin_audit_no_change ON admin_audit")
        op.execute("DROP FUNCTION admin_audit_append_only()")
    else:
        op.execute("DROP TRIGGER admin_audit_no_update")
        op.execute("DROP TRIGGER admin_audit_no_delete")
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.drop_column("consent_version")
    op.drop_index(op.f("ix_admin_audit_programme_code"), table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_index(op.f("ix_person_rectification_journey_id"), table_name="person_rectification")
    op.drop_table("person_rectification")
    op.drop_table("consent_version")
