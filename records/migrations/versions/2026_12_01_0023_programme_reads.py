"""Two programmes side by side (bench/programmes.py): what the journey list and the overview
read stays within the programme.

- Drop the journey index on `stalled` alone: every query on stalled journeys filters by
  programme and reads a (programme, stalled, ...) index. Beside a second programme as
  large, PostgreSQL walked this one backwards for the journey list (stalled first) and
  threw away the other programme's rows: 2.7x the time of one programme.
- Index the cheques by (programme, status, valid until): the overview's cheques about to
  expire read the programme's unspent cheques near their end, not every programme's
  unspent cheques (2x with a second programme, and the whole of them with one).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 20:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_journey_stalled"), table_name="journey")
    op.create_index(
        "ix_cheque_programme_code_status_valid_until",
        "cheque",
        ["programme_code", "status", "valid_until"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_cheque_programme_code_status_valid_until", table_name="cheque")
    op.create_index(op.f("ix_journey_stalled"), "journey", ["stalled"], unique=False)
