"""Mails about a professional's own account: an invitation, a password reset (each carries
a one-time link, records.account_links).

They go through the outbox's delivery rows (`mail_delivery`: one row per mail with its
Message-ID, status, attempts and last error), written in the same transaction as the link
they carry, then sent at once by the API. The link's token is never stored, so such a mail
can only be rendered then: if the relay refuses it or cannot be reached, the row is
recorded FAILED with the reason, and the person (or the administrator) asks again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from domain.validity import PARIS
from notifications.delivery import Deliveries, MailSettings
from notifications.messages import AccountMessage
from notifications.rendering import render_template
from notifications.sender import Outgoing, message_id_for
from records.account_links import LINK_PATH
from records.models import Account, AccountLink, DeliveryStatus, MailDelivery


@dataclass(frozen=True)
class AccountMail:
    """A planned account mail: its delivery row, and what renders it (the link included)."""

    delivery_id: int
    message: type[AccountMessage]
    variables: dict[str, object]


def link_variables(
    mail: MailSettings,
    account: Account,
    link: AccountLink,
    token: str,
    *,
    programme_name: str,
    invited_by: str | None = None,
) -> dict[str, object]:
    expires = link.expires_at.astimezone(PARIS)
    return {
        "programme_name": programme_name,
        "for_beneficiary": False,
        "name": account.full_name,
        "email": account.email,
        "url": f"{mail.base_url}{LINK_PATH}{token}",
        "expires_day": expires.date(),
        "expires_time": f"{expires:%H:%M}",
        "invited_by": invited_by or "L'administrateur de votre programme",
    }


def plan_account_mail(
    session: Session,
    message: type[AccountMessage],
    account: Account,
    link: AccountLink,
    variables: dict[str, object],
    *,
    mail: MailSettings,
    now: datetime,
) -> AccountMail:
    """The delivery row of the mail carrying `link` (flushed with it)."""
    key = f"account-link:{link.id}"
    delivery = MailDelivery(
        idempotency_key=key,
        address=account.email,
        kind=message.kind,
        audience=account.role,
        account_id=account.id,
        category=message.category.value,
        status=DeliveryStatus.PENDING.value,
        message_id=message_id_for(key, account.email, mail.message_id_domain),
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    assert delivery.id is not None
    return AccountMail(delivery.id, message, variables)


async def send_account_mail(deliveries: Deliveries, planned: AccountMail) -> bool:
    """Send a planned account mail once; whether the relay accepted it."""

    def render(session: Session, delivery: MailDelivery) -> Outgoing:
        rendered = render_template(planned.message.template, planned.variables)
        return Outgoing(
            message_id=delivery.message_id,
            sender=deliveries.mail.mail_from,
            to=delivery.address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers={"X-Passnum-Kind": delivery.kind, "X-Passnum-Audience": delivery.audience},
        )

    mail = await asyncio.to_thread(deliveries.claim_with, planned.delivery_id, render)
    if mail is None:
        return False
    try:
        await deliveries.sender.send(mail)
    except Exception as err:  # refused or unreachable: the link cannot be rendered again
        reason = str(err)[:500] or type(err).__name__
        await asyncio.to_thread(deliveries.record_failed, planned.delivery_id, mail.subject, reason)
        return False
    await asyncio.to_thread(deliveries.record_sent, planned.delivery_id, mail.subject)
    return True
