"""Printable letters: a beneficiary's message on paper, for a person without e-mail.

`render_letter(session, outbox_id, base_url=...)` returns a whole HTML page with a print
stylesheet (A4, sender and addressee blocks, date, subject, the message's body). The
journey page serves it; the referrer prints it or hands it over.
"""

from __future__ import annotations

from jinja2 import Template
from markupsafe import Markup
from sqlmodel import Session

from domain.notices import Recipient
from notifications.context import load_context
from notifications.messages import message_for
from notifications.rendering import HTML
from records.models import NotificationOutbox


class NoLetter(LookupError):
    """No letter for this notice: unknown, or not a message for the beneficiary."""


def _content_block(template: Template, variables: dict[str, object]) -> str:
    context = template.new_context(variables)
    return Markup("".join(template.blocks["content"](context)))  # rendered with autoescape


def render_letter(session: Session, outbox_id: int, *, base_url: str) -> str:
    notice = session.get(NotificationOutbox, outbox_id)
    if notice is None or notice.recipient != Recipient.BENEFICIARY.value:
        raise NoLetter(f"aucune lettre pour la notification {outbox_id}")
    message = message_for(notice.kind, notice.recipient)
    ctx = load_context(session, notice, base_url=base_url)
    variables: dict[str, object] = {
        "ctx": ctx,
        "programme_name": ctx.journey.programme_name,
        "for_beneficiary": False,
    }
    body = _content_block(HTML.get_template(f"{message.template}.html"), variables)
    subject = " ".join(
        HTML.get_template(f"{message.template}.subject.txt").render(variables).split()
    )
    return HTML.get_template("letter.html").render(
        variables | {"body": body, "subject": subject, "written_at": notice.created_at}
    )
