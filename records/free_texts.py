"""Free text typed by professionals, kept in the records so that it never reaches Temporal.

The API writes each text here before it sends the change (`write`, in the unit of work
that claims the request's idempotency key) and puts the row's id in the request; the
workflow, its history and its events carry that id only. Pages, the timeline and mails read
the text back by id (`texts`). A change the workflow refuses takes its texts back
(`discard`); anonymisation erases them (`erase_journey`: the rows stay, text gone, with
what the transition log said before free texts were kept apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from domain.stages import Role
from records.models import FreeText, TransitionLog


@dataclass(frozen=True)
class NewText:
    id: str
    journey_id: str
    kind: str  # "<update>.<field>"
    text: str
    author_role: str
    author_ref: str


def write(session: Session, texts: Sequence[NewText], now: datetime) -> None:
    """Add the texts not already there (a retried request writes the same ids). The caller
    commits."""
    if not texts:
        return
    known = set(
        session.exec(select(FreeText.id).where(col(FreeText.id).in_([t.id for t in texts]))).all()
    )
    for t in texts:
        if t.id not in known:
            session.add(
                FreeText(
                    id=t.id,
                    journey_id=t.journey_id,
                    kind=t.kind,
                    text=t.text,
                    author_role=t.author_role,
                    author_ref=t.author_ref,
                    written_at=now,
                )
            )
    session.flush()


def discard(session: Session, ids: Iterable[str]) -> None:
    """Remove texts of a change that was refused (nothing refers to them). The caller
    commits."""
    wanted = list(ids)
    if wanted:
        session.execute(delete(FreeText).where(col(FreeText.id).in_(wanted)))


def texts(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    """The texts of these ids that are still held (erased ones are absent)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.exec(
        select(FreeText.id, FreeText.text).where(
            col(FreeText.id).in_(wanted), col(FreeText.text).is_not(None)
        )
    ).all()
    return {i: t for i, t in rows if t is not None}


def text(session: Session, text_id: str | None) -> str | None:
    return texts(session, [text_id]).get(text_id or "")


def erase_journey(session: Session, journey_id: str, at: datetime) -> None:
    """Erase every free text of the journey: the rows keep their kind, author and dates.
    The log rows recorded before free texts were kept apart carried typed text as their
    reason: those of people's changes lose it too (the automatic ones say only fixed
    wordings). The caller commits."""
    session.execute(
        update(FreeText)
        .where(col(FreeText.journey_id) == journey_id, col(FreeText.erased_at).is_(None))
        .values(text=None, erased_at=at)
    )
    session.execute(
        update(TransitionLog)
        .where(
            col(TransitionLog.journey_id) == journey_id,
            col(TransitionLog.actor_role) != Role.SYSTEM.value,
            col(TransitionLog.reason).is_not(None),
        )
        .values(reason=None)
    )
