"""Initial schema: programme reference data, beneficiaries, journey read model, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 20:16:29.742742+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "beneficiary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("first_name", sa.String(length=120), nullable=True),
        sa.Column("last_name", sa.String(length=120), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("postal_address", sa.String(length=500), nullable=True),
        sa.Column("commune", sa.String(length=120), nullable=True),
        sa.Column("preferred_channel", sa.String(length=8), nullable=False),
        sa.Column("consent_given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_text", sa.String(), nullable=False),
        sa.Column("consent_recorded_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beneficiary")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_beneficiary_idempotency_key")),
        sa.UniqueConstraint("journey_id", name=op.f("uq_beneficiary_journey_id")),
    )
    op.create_table(
        "booklet_allocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("millesime", sa.Integer(), nullable=False),
        sa.Column("booklet_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booklet_allocation")),
        sa.UniqueConstraint("journey_id", name=op.f("uq_booklet_allocation_journey_id")),
        sa.UniqueConstraint(
            "programme_code",
            "booklet_number",
            name=op.f("uq_booklet_allocation_programme_code_booklet_number"),
        ),
    )
    op.create_table(
        "journey",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.String(length=80), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=False),
        sa.Column("reception_structure_id", sa.Integer(), nullable=False),
        sa.Column("referrer_role", sa.String(length=20), nullable=False),
        sa.Column("referrer_ref", sa.String(length=120), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("referred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booklet_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("oriented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("training_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=True),
        sa.Column("orientation_status", sa.String(length=20), nullable=True),
        sa.Column("orientation_structure_id", sa.Integer(), nullable=True),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("stalled_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stalled_reason", sa.String(length=500), nullable=True),
        sa.Column("millesime", sa.Integer(), nullable=True),
        sa.Column("booklet_number", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cheques_total", sa.Integer(), nullable=False),
        sa.Column("cheques_redeemed", sa.Integer(), nullable=False),
        sa.Column("sessions_count", sa.Integer(), nullable=False),
        sa.Column("entry_autonomy", sa.String(length=20), nullable=True),
        sa.Column("exit_autonomy", sa.String(length=20), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_journey_workflow_id")),
    )
    op.create_index(op.f("ix_journey_epci_id"), "journey", ["epci_id"], unique=False)
    op.create_index(
        op.f("ix_journey_mediation_structure_id"),
        "journey",
        ["mediation_structure_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_journey_orientation_structure_id"),
        "journey",
        ["orientation_structure_id"],
        unique=False,
    )
    op.create_index(
        "ix_journey_programme_code_stalled_last_activity_at",
        "journey",
        ["programme_code", "stalled", "last_activity_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_journey_reception_structure_id"),
        "journey",
        ["reception_structure_id"],
        unique=False,
    )
    op.create_index(op.f("ix_journey_stage"), "journey", ["stage"], unique=False)
    op.create_index(op.f("ix_journey_stalled"), "journey", ["stalled"], unique=False)

    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_outbox_idempotency_key")),
    )
    op.create_index(
        op.f("ix_notification_outbox_journey_id"),
        "notification_outbox",
        ["journey_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notification_outbox_status"), "notification_outbox", ["status"], unique=False
    )

    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("territory", sa.String(length=200), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("cheque_value_cents", sa.Integer(), nullable=False),
        sa.Column("cheques_per_booklet", sa.Integer(), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("current_millesime", sa.Integer(), nullable=False),
        sa.Column("budget_total_cents", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme")),
        sa.UniqueConstraint("code", name=op.f("uq_programme_code")),
    )
    op.create_table(
        "assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("tool", sa.String(length=20), nullable=False),
        sa.Column("autonomy", sa.String(length=20), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_assessment_journey_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment")),
        sa.UniqueConstraint("journey_id", "kind", name=op.f("uq_assessment_journey_id_kind")),
    )
    op.create_table(
        "cheque",
        sa.Column("serial", sa.String(length=16), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("programme_code", sa.Integer(), nullable=False),
        sa.Column("millesime", sa.Integer(), nullable=False),
        sa.Column("booklet_number", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("redeemed_on", sa.Date(), nullable=True),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journey.id"], name=op.f("fk_cheque_journey_id")),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_cheque")),
    )
    op.create_index(op.f("ix_cheque_journey_id"), "cheque", ["journey_id"], unique=False)
    op.create_index(
        op.f("ix_cheque_mediation_structure_id"), "cheque", ["mediation_structure_id"], unique=False
    )
    op.create_index(op.f("ix_cheque_status"), "cheque", ["status"], unique=False)

    op.create_table(
        "epci",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("siren", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_epci_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epci")),
        sa.UniqueConstraint("programme_id", "siren", name=op.f("uq_epci_programme_id_siren")),
    )
    op.create_index(op.f("ix_epci_programme_id"), "epci", ["programme_id"], unique=False)

    op.create_table(
        "orientation",
        sa.Column("orientation_id", sa.String(length=64), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=24), nullable=True),
        sa.Column("reminded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_orientation_journey_id")
        ),
        sa.PrimaryKeyConstraint("orientation_id", name=op.f("pk_orientation")),
    )
    op.create_index(op.f("ix_orientation_journey_id"), "orientation", ["journey_id"], unique=False)
    op.create_index(
        op.f("ix_orientation_mediation_structure_id"),
        "orientation",
        ["mediation_structure_id"],
        unique=False,
    )
    op.create_index(op.f("ix_orientation_status"), "orientation", ["status"], unique=False)

    op.create_table(
        "training_session",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("mediation_structure_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("place", sa.String(length=12), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("equipment", sa.JSON(), nullable=False),
        sa.Column("autonomy_observed", sa.String(length=20), nullable=True),
        sa.Column("serials", sa.JSON(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_training_session_journey_id")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_training_session")),
    )
    op.create_index(
        op.f("ix_training_session_journey_id"), "training_session", ["journey_id"], unique=False
    )
    op.create_index(
        op.f("ix_training_session_mediation_structure_id"),
        "training_session",
        ["mediation_structure_id"],
        unique=False,
    )

    op.create_table(
        "transition_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_ref", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"], ["journey.id"], name=op.f("fk_transition_log_journey_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transition_log")),
        sa.UniqueConstraint("journey_id", "seq", name=op.f("uq_transition_log_journey_id_seq")),
    )
    op.create_table(
        "funder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=True),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["epci_id"], ["epci.id"], name=op.f("fk_funder_epci_id")),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_funder_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funder")),
    )
    op.create_index(op.f("ix_funder_programme_id"), "funder", ["programme_id"], unique=False)

    op.create_table(
        "mediation_structure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("commune", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("aptic_qualified_from", sa.Date(), nullable=False),
        sa.Column("aptic_qualified_until", sa.Date(), nullable=True),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["epci_id"], ["epci.id"], name=op.f("fk_mediation_structure_epci_id")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_mediation_structure_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mediation_structure")),
    )
    op.create_index(
        op.f("ix_mediation_structure_epci_id"), "mediation_structure", ["epci_id"], unique=False
    )
    op.create_index(
        op.f("ix_mediation_structure_programme_id"),
        "mediation_structure",
        ["programme_id"],
        unique=False,
    )

    op.create_table(
        "reception_structure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("commune", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["epci_id"], ["epci.id"], name=op.f("fk_reception_structure_epci_id")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_reception_structure_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_structure")),
    )
    op.create_index(
        op.f("ix_reception_structure_epci_id"), "reception_structure", ["epci_id"], unique=False
    )
    op.create_index(
        op.f("ix_reception_structure_programme_id"),
        "reception_structure",
        ["programme_id"],
        unique=False,
    )

    op.create_table(
        "budget_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("funder_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["funder_id"], ["funder.id"], name=op.f("fk_budget_line_funder_id")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("fk_budget_line_programme_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_line")),
    )
    op.create_index(op.f("ix_budget_line_funder_id"), "budget_line", ["funder_id"], unique=False)
    op.create_index(
        op.f("ix_budget_line_programme_id"), "budget_line", ["programme_id"], unique=False
    )

    op.create_table(
        "mediation_structure_epci",
        sa.Column("mediation_structure_id", sa.Integer(), nullable=False),
        sa.Column("epci_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["epci_id"], ["epci.id"], name=op.f("fk_mediation_structure_epci_epci_id")
        ),
        sa.ForeignKeyConstraint(
            ["mediation_structure_id"],
            ["mediation_structure.id"],
            name=op.f("fk_mediation_structure_epci_mediation_structure_id"),
        ),
        sa.PrimaryKeyConstraint(
            "mediation_structure_id", "epci_id", name=op.f("pk_mediation_structure_epci")
        ),
    )


def downgrade() -> None:
    op.drop_table("mediation_structure_epci")
    op.drop_index(op.f("ix_budget_line_programme_id"), table_name="budget_line")
    op.drop_index(op.f("ix_budget_line_funder_id"), table_name="budget_line")

    op.drop_table("budget_line")
    op.drop_index(op.f("ix_reception_structure_programme_id"), table_name="reception_structure")
    op.drop_index(op.f("ix_reception_structure_epci_id"), table_name="reception_structure")

    op.drop_table("reception_structure")
    op.drop_index(op.f("ix_mediation_structure_programme_id"), table_name="mediation_structure")
    op.drop_index(op.f("ix_mediation_structure_epci_id"), table_name="mediation_structure")

    op.drop_table("mediation_structure")
    op.drop_index(op.f("ix_funder_programme_id"), table_name="funder")

    op.drop_table("funder")
    op.drop_table("transition_log")
    op.drop_index(op.f("ix_training_session_mediation_structure_id"), table_name="training_session")
    op.drop_index(op.f("ix_training_session_journey_id"), table_name="training_session")

    op.drop_table("training_session")
    op.drop_index(op.f("ix_orientation_status"), table_name="orientation")
    op.drop_index(op.f("ix_orientation_mediation_structure_id"), table_name="orientation")
    op.drop_index(op.f("ix_orientation_journey_id"), table_name="orientation")

    op.drop_table("orientation")
    op.drop_index(op.f("ix_epci_programme_id"), table_name="epci")

    op.drop_table("epci")
    op.drop_index(op.f("ix_cheque_status"), table_name="cheque")
    op.drop_index(op.f("ix_cheque_mediation_structure_id"), table_name="cheque")
    op.drop_index(op.f("ix_cheque_journey_id"), table_name="cheque")

    op.drop_table("cheque")
    op.drop_table("assessment")
    op.drop_table("programme")
    op.drop_index(op.f("ix_notification_outbox_status"), table_name="notification_outbox")
    op.drop_index(op.f("ix_notification_outbox_journey_id"), table_name="notification_outbox")

    op.drop_table("notification_outbox")
    op.drop_index(op.f("ix_journey_stalled"), table_name="journey")
    op.drop_index(op.f("ix_journey_stage"), table_name="journey")
    op.drop_index(op.f("ix_journey_reception_structure_id"), table_name="journey")
    op.drop_index("ix_journey_programme_code_stalled_last_activity_at", table_name="journey")
    op.drop_index(op.f("ix_journey_orientation_structure_id"), table_name="journey")
    op.drop_index(op.f("ix_journey_mediation_structure_id"), table_name="journey")
    op.drop_index(op.f("ix_journey_epci_id"), table_name="journey")

    op.drop_table("journey")
    op.drop_table("booklet_allocation")
    op.drop_table("beneficiary")
