"""The one door from the app to mail: what pages may read or change of `notifications/`.

Pages never import `notifications` themselves (tests/test_imports.py holds them to it): a
professional's notification preferences and the categories they choose among
(`/compte/notifications`), a journey's letters to print and its deliveries
(`/parcours/{id}/lettres/…`, `fragments/mail.html`), and the embedded sink's mails
(`/administration/courriels`). Sending stays with the worker's activities; the
mails carrying a one-time link (invitations, password resets) are planned here
(`plan_link_mail`), and `send_planned` hands them to the worker (AccountMailWorkflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from config import Settings
from domain.mail import ACCOUNT_MAIL_WORKFLOW_NAME, SendAccountMail
from domain.notices import NoticeKind
from notifications.account_outbox import plan_account_mail
from notifications.categories import Category
from notifications.journal import DeliveryLine, LetterLine, deliveries_for, letters_for
from notifications.letters import NoLetter, render_letter
from notifications.message_ids import message_id_domain
from notifications.preferences import (
    EssentialCategory,
    Preferences,
    optional_categories,
    preferences_of,
    set_preferences,
)
from notifications.sink import MailView, count_mails, list_mails, read_mail
from records import account_links
from records.account_links import LinkPurpose
from records.models import Account

# What each kind of mail is, as the journey pages and the person's access export name it.
KIND_LABELS: dict[str, str] = {
    NoticeKind.REFERRAL_RECORDED.value: "Orientation enregistrée",
    NoticeKind.ORIENTATION_REQUEST.value: "Demande d'orientation",
    NoticeKind.ORIENTATION_REMINDER.value: "Rappel : orientation sans réponse",
    NoticeKind.ORIENTATION_DECLINED.value: "Orientation refusée",
    NoticeKind.ORIENTATION_EXPIRED.value: "Orientation expirée",
    NoticeKind.STAGE_REMINDER.value: "Rappel : parcours sans activité",
    NoticeKind.JOURNEY_STALLED.value: "Parcours bloqué",
    NoticeKind.NUDGE.value: "Relance de la coordination",
    NoticeKind.EXPIRY_WARNING.value: "Chèques bientôt expirés",
    NoticeKind.JOURNEY_CLOSED.value: "Parcours clôturé",
    "DIGEST": "Récapitulatif quotidien",
}


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


@dataclass(frozen=True)
class AccountMail:
    """A planned mail carrying a one-time link: its delivery row and the link's token."""

    delivery_id: int
    token: str


def plan_link_mail(
    session: Session,
    settings: Settings,
    account: Account,
    purpose: LinkPurpose,
    *,
    now: datetime,
    created_by: int | None = None,
) -> AccountMail:
    """Issue a one-time link for `account` and plan the mail carrying it, in the caller's
    unit of work; `send_planned` once committed."""
    link, token = account_links.issue_link(
        session, account, purpose, now=now, created_by=created_by
    )
    domain = message_id_domain(settings.public_base_url)
    return AccountMail(plan_account_mail(session, account, link, domain=domain, now=now), token)


async def send_planned(client: Client, settings: Settings, planned: AccountMail) -> None:
    """Have the worker send it (AccountMailWorkflow): once per delivery row."""
    await client.start_workflow(
        ACCOUNT_MAIL_WORKFLOW_NAME,
        SendAccountMail(delivery_id=planned.delivery_id, token=planned.token),
        id=f"account-mail-{planned.delivery_id}",
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


__all__ = [
    "AccountMail",
    "plan_link_mail",
    "send_planned",
    "KIND_LABELS",
    "kind_label",
    "Category",
    "DeliveryLine",
    "EssentialCategory",
    "LetterLine",
    "MailView",
    "NoLetter",
    "Preferences",
    "count_mails",
    "deliveries_for",
    "letters_for",
    "list_mails",
    "optional_categories",
    "preferences_of",
    "read_mail",
    "render_letter",
    "set_preferences",
]
