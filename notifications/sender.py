"""Sending: a `Sender` protocol, its aiosmtplib implementation, and one that files mails in
the local mailbox table (the embedded sink's storage, without SMTP).

A sender raises `TemporaryFailure` (retry later: connection refused, timeout, 4xx) or
`PermanentFailure` (the server refused this message for good: 5xx to a recipient or to its
content). Everything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr

from config import Settings
from notifications.sink import store_mail
from records.db import SessionFactory


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # stable: derived from the idempotency key and the address
    sender: str
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


class TemporaryFailure(Exception):
    """Try again later."""


class PermanentFailure(Exception):
    """Never try this message again; the reason is shown on the journey page."""


class Sender(Protocol):
    async def send(self, mail: Outgoing) -> None: ...


def message_id_for(key: str, address: str, domain: str) -> str:
    """The same Message-ID for every attempt at the same (notice, address): a mail client
    folds the duplicate left by a worker that died between the SMTP reply and its record."""
    digest = hashlib.sha256(f"{key}\n{address.strip().lower()}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_mime(mail: Outgoing) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail.sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "none",
        username: str | None = None,
        password: SecretStr | None = None,
        timeout: float = 15.0,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host, self.port, self.security = host, port, security
        self._username, self._password, self._timeout = username, password, timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSender:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_s,
        )

    async def send(self, mail: Outgoing) -> None:
        try:
            await aiosmtplib.send(
                build_mime(mail),
                hostname=self.host,
                port=self.port,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as err:
            codes = [r.code for r in err.recipients]
            if codes and all(_permanent(c) for c in codes):
                raise PermanentFailure(_reason(err.recipients[0])) from err
            raise TemporaryFailure(str(err)) from err
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as err:
            if _permanent(err.code):
                raise PermanentFailure(_reason(err)) from err
            raise TemporaryFailure(_reason(err)) from err
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as err:
            # Connection refused or dropped, timeouts, 4xx, login refused (a setting to
            # fix, not a reason to drop the message): retried with backoff.
            raise TemporaryFailure(f"{type(err).__name__}: {err}") from err


def _reason(err: aiosmtplib.SMTPResponseException) -> str:
    return f"{err.code} {err.message}".strip()


class MailboxSender:
    """Files each mail in the `mailbox_message` table, as the embedded sink would.

    For workers built without an SMTP sender (tests of journey logic, benchmarks): mails
    stay readable, nothing leaves the machine."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def send(self, mail: Outgoing) -> None:
        raw = build_mime(mail).as_bytes()
        sender = mail.sender

        def write() -> None:
            with self._sessions() as session:
                store_mail(session, raw, mail_from=sender, recipients=[mail.to])
                session.commit()

        await asyncio.to_thread(write)
