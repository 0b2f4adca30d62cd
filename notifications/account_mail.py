"""Mails about a professional's own account: an invitation, a password reset (each carries
a one-time link, records.account_links).

They go through the outbox's delivery rows (`mail_delivery`: one row per mail with its
Message-ID, status, attempts and last error), written in the same transaction as the link
they carry (notifications.account_outbox). The worker sends them (AccountMailWorkflow, `send_account_mail` activity): the
link's token reaches it in the encrypted workflow input, never in the database, and must
match the link's stored SHA-256 before anything is rendered.
"""

from __future__ import annotations

import asyncio

from sqlmodel import Session, select

from domain.validity import PARIS
from notifications.account_outbox import BY_KIND, KEY_PREFIX
from notifications.delivery import Deliveries, MailSettings
from notifications.rendering import render_template
from notifications.sender import Outgoing, PermanentFailure
from records.account_links import LINK_PATH
from records.accounts import token_digest
from records.models import Account, AccountLink, MailDelivery, Programme


def link_variables(
    session: Session, mail: MailSettings, account: Account, link: AccountLink, token: str
) -> dict[str, object]:
    """What the templates show: the person, the link, until when, who invited."""
    programme = session.exec(
        select(Programme.name).where(Programme.code == account.programme_code)
    ).first()
    inviter = session.get(Account, link.created_by) if link.created_by else None
    expires = link.expires_at.astimezone(PARIS)
    return {
        "programme_name": programme or "Pass numérique",
        "for_beneficiary": False,
        "name": account.full_name,
        "email": account.email,
        "url": f"{mail.base_url}{LINK_PATH}{token}",
        "expires_day": expires.date(),
        "expires_time": f"{expires:%H:%M}",
        "invited_by": inviter.full_name if inviter else "L'administrateur de votre programme",
    }


def render_account_mail(
    session: Session, mail: MailSettings, delivery: MailDelivery, token: str
) -> Outgoing:
    link_id = int(delivery.idempotency_key.removeprefix(KEY_PREFIX))
    link = session.get(AccountLink, link_id)
    account = session.get(Account, delivery.account_id) if delivery.account_id else None
    if link is None or account is None or link.token_hash != token_digest(token):
        raise PermanentFailure("lien introuvable ou jeton différent")
    message = BY_KIND[delivery.kind]
    rendered = render_template(
        message.template, link_variables(session, mail, account, link, token)
    )
    return Outgoing(
        message_id=delivery.message_id,
        sender=mail.mail_from,
        to=delivery.address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers={"X-Passnum-Kind": delivery.kind, "X-Passnum-Audience": delivery.audience},
    )


async def send_account_mail(deliveries: Deliveries, delivery_id: int, token: str) -> str:
    """Send one account mail unless final; its status. Raises TemporaryFailure or Busy (the
    activity is retried), records a permanent refusal."""

    def render(session: Session, delivery: MailDelivery) -> Outgoing:
        return render_account_mail(session, deliveries.mail, delivery, token)

    try:
        await deliveries.send_one_with(delivery_id, render)
    except PermanentFailure as err:  # rendering refused: nothing to retry
        await asyncio.to_thread(deliveries.record_failed, delivery_id, "", str(err))

    def status() -> str:
        with deliveries.sessions() as session:
            found = session.get(MailDelivery, delivery_id)
            return found.status if found else "GONE"

    return await asyncio.to_thread(status)
