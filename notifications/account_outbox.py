"""The delivery row of a mail carrying a one-time link (an invitation, a password reset),
written by the API in the same transaction as the link; the worker sends it
(notifications.account_mail). Loads no SMTP client."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from notifications.message_ids import message_id_for
from notifications.messages import AccountMessage, InvitationMessage, PasswordResetMessage
from records.account_links import LinkPurpose
from records.models import Account, AccountLink, DeliveryStatus, MailDelivery

KEY_PREFIX = "account-link:"
MESSAGES: dict[str, type[AccountMessage]] = {
    LinkPurpose.INVITATION.value: InvitationMessage,
    LinkPurpose.RESET.value: PasswordResetMessage,
}
BY_KIND = {m.kind: m for m in MESSAGES.values()}


def plan_account_mail(
    session: Session, account: Account, link: AccountLink, *, domain: str, now: datetime
) -> int:
    """The delivery row of the mail carrying `link` (flushed with it); its id. `domain`: of
    the Message-ID (notifications.message_ids.message_id_domain)."""
    message = MESSAGES[link.purpose]
    key = f"{KEY_PREFIX}{link.id}"
    delivery = MailDelivery(
        idempotency_key=key,
        address=account.email,
        kind=message.kind,
        audience=account.role,
        account_id=account.id,
        category=message.category.value,
        status=DeliveryStatus.PENDING.value,
        message_id=message_id_for(key, account.email, domain),
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    assert delivery.id is not None
    return delivery.id
