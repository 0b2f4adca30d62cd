"""Activity and workflow contracts of mail delivery (opaque identifiers only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ACTIVITY_DELIVER_NOTICES = "deliver_notices"
ACTIVITY_PLAN_DIGESTS = "plan_digests"
ACTIVITY_SEND_DIGEST = "send_digest"
DIGEST_WORKFLOW_NAME = "CoordinatorDigestWorkflow"
DIGEST_SCHEDULE_ID = "passnum-daily-digest"
DIGEST_HOUR = 8  # Europe/Paris


@dataclass(frozen=True)
class DeliverNotices:
    """Send the notices of one recorded journey event (its outbox rows)."""

    journey_id: str
    seq: int


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    queued: int = 0  # waiting for a daily digest


@dataclass(frozen=True)
class DigestRun:
    """One digest round: `key` makes every activity attempt of the round the same round."""

    key: str
    at: datetime


@dataclass(frozen=True)
class DigestRequest:
    key: str
    address: str
    at: datetime


ACTIVITY_SEND_ACCOUNT_MAIL = "send_account_mail"
ACCOUNT_MAIL_WORKFLOW_NAME = "AccountMailWorkflow"


@dataclass(frozen=True)
class SendAccountMail:
    """Send the mail carrying a one-time link (an invitation, a password reset). The token
    is never stored in clear: it travels here, in the encrypted Temporal payload, so that a
    retried attempt can render the mail again; the database keeps its SHA-256 only."""

    delivery_id: int
    token: str
