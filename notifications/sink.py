"""The embedded SMTP sink (`passnum up`): an aiosmtpd server on loopback that files every
mail it receives in the `mailbox_message` table, and the reading functions of the
administrators' mailbox page."""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from records.db import SessionFactory, begin_write
from records.models import MailboxMessage

log = logging.getLogger(__name__)
MAX_SUBJECT = 300
_HEADERS = BytesHeaderParser(policy=policy.default)
# Mail writers of one SQLite file in this process (sink, deliveries) take turns here:
# threads waiting on SQLite's own lock poll it with growing sleeps; this hands over at once.
WRITE_TURN = threading.Lock()


def _values(raw: bytes, mail_from: str, recipients: list[str]) -> dict[str, Any]:
    parsed = _HEADERS.parsebytes(raw)  # the headers are all it needs: the body stays raw
    return {
        "received_at": datetime.now(UTC),
        "mail_from": mail_from[:254],
        "recipients": list(recipients),
        "subject": str(parsed.get("Subject", ""))[:MAX_SUBJECT],
        "message_id": (str(parsed["Message-ID"]).strip()[:200] if parsed["Message-ID"] else None),
        "raw": raw.decode("utf-8", errors="replace"),
    }


def store_mail(
    session: Session, raw: bytes, *, mail_from: str, recipients: list[str]
) -> MailboxMessage:
    """File one received mail. The caller commits."""
    row = MailboxMessage(**_values(raw, mail_from, recipients))
    session.add(row)
    session.flush()
    return row


def insert_mail(session: Session, raw: bytes, *, mail_from: str, recipients: list[str]) -> bool:
    """`store_mail` as one INSERT, without building the row object, unless a mail with the
    same Message-ID is filed already: the mailbox folds it as a mail client does. That copy
    is the one a sender sends again when it died between the server's acceptance and its
    own record (notifications.delivery: one Message-ID per notice and address, the same on
    every attempt). Returns whether the mail was filed. The caller commits; call it first
    in the session (it reads then writes: it takes the write lock first)."""
    values = _values(raw, mail_from, recipients)
    begin_write(session)
    if (
        values["message_id"] is not None
        and session.exec(
            select(MailboxMessage.id)
            .where(MailboxMessage.message_id == values["message_id"])
            .limit(1)
        ).first()
    ):
        return False
    session.execute(insert(MailboxMessage).values(**values))
    return True


class MailboxHandler:
    """aiosmtpd handler: accept everything, file it."""

    def __init__(self, sessions: SessionFactory, *, serialise_writes: bool = False) -> None:
        self._sessions = sessions
        self._turn: AbstractContextManager[Any] = WRITE_TURN if serialise_writes else nullcontext()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw: bytes = envelope.original_content or envelope.content
        sender: str = envelope.mail_from or ""
        recipients: list[str] = list(envelope.rcpt_tos)

        # Written from the sink's own thread: its event loop serves only the sink, and
        # the client waits for this answer anyway (no hop to yet another thread).
        try:
            with self._turn, self._sessions() as s:
                filed = insert_mail(s, raw, mail_from=sender, recipients=recipients)
                s.commit()
            if not filed:
                log.info("courriel déjà reçu (même Message-ID), non classé à nouveau")
        except Exception:
            # The mailbox's database is away (restarting): a temporary refusal, which the
            # sender retries; aiosmtpd's own answer to an exception would be a 5xx, which
            # a sender takes as final and the mail would be lost.
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        return "250 Message accepted for delivery"


def smtp_controller(handler: Any, host: str, port: int) -> Any:
    """An aiosmtpd Controller for `handler` on host:port, not started. Port 0 lets the system
    pick a free port as it binds: `.port` holds the bound one once started (a plain
    Controller would try to reach port 0 to check it answers)."""
    from aiosmtpd.controller import Controller

    class _Controller(Controller):  # type: ignore[misc]
        def _trigger_server(self) -> None:
            assert isinstance(self.server, asyncio.Server)  # bound before the start check
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    return _Controller(handler, hostname=host, port=port)


def start_sink(
    sessions: SessionFactory, host: str, port: int, *, serialise_writes: bool = False
) -> Any:
    """Start the sink in its own thread; returns the aiosmtpd Controller (`.stop()`; `.port`
    the bound port, the one the system picked if `port` is 0)."""
    handler = MailboxHandler(sessions, serialise_writes=serialise_writes)
    controller = smtp_controller(handler, host, port)
    controller.start()
    return controller


# ---- reading (the administrators' page) ----


@dataclass(frozen=True)
class MailView:
    id: int
    received_at: datetime
    mail_from: str
    recipients: list[str]
    subject: str
    message_id: str | None
    text: str
    html: str | None


def count_mails(session: Session) -> int:
    return session.exec(select(func.count()).select_from(MailboxMessage)).one()


def list_mails(session: Session, *, limit: int = 50, offset: int = 0) -> list[MailboxMessage]:
    """Newest first."""
    return list(
        session.exec(
            select(MailboxMessage)
            .order_by(col(MailboxMessage.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
    )


def read_mail(session: Session, mail_id: int) -> MailView | None:
    row = session.get(MailboxMessage, mail_id)
    if row is None or row.id is None:
        return None
    parsed = message_from_bytes(row.raw.encode("utf-8"), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    return MailView(
        id=row.id,
        received_at=row.received_at,
        mail_from=row.mail_from,
        recipients=list(row.recipients),
        subject=row.subject,
        message_id=row.message_id,
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else None,
    )
