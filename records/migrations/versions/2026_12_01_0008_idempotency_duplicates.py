"""Idempotency claims of changes, the person's folded identity for the duplicate check
(back-filled here for people not anonymised), coordinators' leave for a second booklet.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00+00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A frozen copy of domain.identity as of this revision: a migration must not change when
# the application code does.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})


def _fold(text: str | None) -> str:
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalnum())


def _name_key(first: str | None, last: str | None) -> str | None:
    f, la = _fold(first), _fold(last)
    return f"{f}|{la}" if f and la else None


def _email_key(email: str | None) -> str | None:
    if not email:
        return None
    address = email.strip().lower()
    return address if "@" in address.strip("@") else None


def _phone_key(phone: str | None) -> str | None:
    if not phone:
        return None
    text = phone.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    international = text.startswith("+") or digits.startswith("00")
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
    elif len(digits) == 11 and digits.startswith("33"):
        international = True
    if international:
        if not digits.startswith("33"):
            return f"+{digits}" if len(digits) >= 8 else None
        national = digits[2:]
        digits = national if national.startswith("0") else f"0{national}"
    return digits if len(digits) >= 8 else None


def upgrade() -> None:
    op.create_table(
        "idempotency_claim",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_claim"),
    )
    op.create_table(
        "second_booklet_allowance",
        sa.Column("journey_id", sa.String(length=36), nullable=False),
        sa.Column("allowed_by", sa.Integer(), nullable=False),
        sa.Column("allowed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", name="pk_second_booklet_allowance"),
    )
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=250), nullable=True))
        batch_op.add_column(sa.Column("email_key", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("phone_key", sa.String(length=40), nullable=True))

    people = sa.table(
        "beneficiary",
        sa.column("id", sa.Integer()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("email", sa.String()),
        sa.column("phone", sa.String()),
        sa.column("anonymised_at", sa.DateTime(timezone=True)),
        sa.column("name_key", sa.String()),
        sa.column("email_key", sa.String()),
        sa.column("phone_key", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            people.c.id, people.c.first_name, people.c.last_name, people.c.email, people.c.phone
        ).where(people.c.anonymised_at.is_(None))
    ).all()
    for row_id, first, last, email, phone in rows:
        bind.execute(
            people.update()
            .where(people.c.id == row_id)
            .values(
                name_key=_name_key(first, last),
                email_key=_email_key(email),
                phone_key=_phone_key(phone),
            )
        )

    op.create_index(
        "ix_beneficiary_name_key_birth_year",
        "beneficiary",
        ["name_key", "birth_year"],
        unique=False,
    )
    op.create_index("ix_beneficiary_email_key", "beneficiary", ["email_key"], unique=False)
    op.create_index("ix_beneficiary_phone_key", "beneficiary", ["phone_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_beneficiary_phone_key", table_name="beneficiary")
    op.drop_index("ix_beneficiary_email_key", table_name="beneficiary")
    op.drop_index("ix_beneficiary_name_key_birth_year", table_name="beneficiary")
    with op.batch_alter_table("beneficiary", schema=None) as batch_op:
        batch_op.drop_column("phone_key")
        batch_op.drop_column("email_key")
        batch_op.drop_column("name_key")
    op.drop_table("second_booklet_allowance")
    op.drop_table("idempotency_claim")
