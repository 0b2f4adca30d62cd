"""Throttling by kind: login_attempt rows also count failed OpenID Connect sign-ins
("oidc") and password-reset requests ("reset"); existing rows are password logins.

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-01 04:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="password", nullable=False)
        )
        batch_op.drop_index("ix_login_attempt_email_at")
        batch_op.drop_index("ix_login_attempt_address_at")
        batch_op.create_index(
            "ix_login_attempt_kind_email_at", ["kind", "email", "at"], unique=False
        )
        batch_op.create_index(
            "ix_login_attempt_kind_address_at", ["kind", "address", "at"], unique=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM login_attempt WHERE kind <> 'password'")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_kind_address_at")
        batch_op.drop_index("ix_login_attempt_kind_email_at")
        batch_op.create_index("ix_login_attempt_address_at", ["address", "at"], unique=False)
        batch_op.create_index("ix_login_attempt_email_at", ["email", "at"], unique=False)
        batch_op.drop_column("kind")
