"""What the journey asks to be told to whom. Sending is the notifications package's job."""

from __future__ import annotations

from enum import StrEnum


class Recipient(StrEnum):
    BENEFICIARY = "BENEFICIARY"
    REFERRER = "REFERRER"
    MEDIATION_STRUCTURE = "MEDIATION_STRUCTURE"
    COORDINATORS = "COORDINATORS"


class NoticeKind(StrEnum):
    REFERRAL_RECORDED = "REFERRAL_RECORDED"
    ORIENTATION_REQUEST = "ORIENTATION_REQUEST"
    ORIENTATION_REMINDER = "ORIENTATION_REMINDER"
    ORIENTATION_DECLINED = "ORIENTATION_DECLINED"
    ORIENTATION_EXPIRED = "ORIENTATION_EXPIRED"
    STAGE_REMINDER = "STAGE_REMINDER"
    JOURNEY_STALLED = "JOURNEY_STALLED"
    NUDGE = "NUDGE"
    EXPIRY_WARNING = "EXPIRY_WARNING"
    JOURNEY_CLOSED = "JOURNEY_CLOSED"
    BOOKLET_LOCKED = "BOOKLET_LOCKED"
    MEDIATOR_CHANGED = "MEDIATOR_CHANGED"
    BOOKLET_LOST = "BOOKLET_LOST"


def notice_key(journey_id: str, seq: int, kind: NoticeKind, recipient: Recipient) -> str:
    """Stable idempotency key: built from identifiers only, never from a formatted date."""
    return f"{journey_id}:{seq}:{kind.value}:{recipient.value}"
