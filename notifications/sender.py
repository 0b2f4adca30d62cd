"""Sending: a `Sender` protocol, its aiosmtplib implementation, and one that files mails in
the local mailbox table (the embedded sink's storage, without SMTP).

A sender raises `TemporaryFailure` (retry later: connection refused, timeout, 4xx) or
`PermanentFailure` (the server refused this message for good: 5xx to a recipient or to its
content). Everything else is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr

from config import Settings
from notifications.message_ids import message_id_for as message_id_for  # re-exported
from notifications.sink import insert_mail
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


@contextlib.asynccontextmanager
async def sending(sender: Sender) -> AsyncIterator[Sender]:
    """A sender for several mails in a row: the sender's `session()` if it has one (one
    SMTP connection for them all), else the sender itself."""
    session = getattr(sender, "session", None)
    if session is None:
        yield sender
        return
    async with session() as connected:
        yield connected


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


def _header(value: str, linesep: str) -> str:
    """A header value, RFC 2047-encoded if not ASCII, folded under 78 characters."""
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset).encode(linesep=linesep)


def _base64_part(content_type: str, body: str, linesep: str) -> str:
    encoded = base64.encodebytes(body.encode()).decode("ascii")  # lines of 76 characters
    return linesep.join(
        (
            f'Content-Type: {content_type}; charset="utf-8"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: base64",
            "",
            encoded.replace("\n", linesep),
        )
    )


def mime_bytes(mail: Outgoing, *, linesep: str = "\r\n") -> bytes:
    """The same message as `build_mime` (multipart/alternative, text then HTML, bodies in
    base64), written directly: the `email` package parses every header it is given back
    into objects, several times the cost of the rest of a delivery."""
    if any(c in value for value in (mail.to, mail.message_id) for c in "\r\n"):
        raise ValueError("a header value may not contain a line break")
    boundary = f"==============={secrets.token_hex(12)}=="
    name, address = parseaddr(mail.sender)
    headers = [
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ("MIME-Version", "1.0"),
        ("From", formataddr((name, address), "utf-8")),
        ("To", mail.to),
        ("Subject", _header(mail.subject, linesep)),
        ("Message-ID", mail.message_id),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834: no vacation replies
        *((k, _header(v, linesep)) for k, v in mail.headers.items()),
    ]
    lines = [f"{k}: {v}" for k, v in headers]
    lines += [
        "",
        f"--{boundary}",
        _base64_part("text/plain", mail.text, linesep),
        f"--{boundary}",
        _base64_part("text/html", mail.html, linesep),
        f"--{boundary}--",
        "",
    ]
    return linesep.join(lines).encode("ascii")


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpSender:
    max_idle = 4  # connections kept open between activities

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
        self._idle: list[tuple[asyncio.AbstractEventLoop, aiosmtplib.SMTP]] = []

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

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            username=self._username,
            password=self._password.get_secret_value() if self._password else None,
            timeout=self._timeout,
        )

    async def _checkout(self) -> aiosmtplib.SMTP:
        """An idle connection of this event loop that still answers, else a new one."""
        loop = asyncio.get_running_loop()
        while self._idle:
            owner, smtp = self._idle.pop()
            if owner is not loop:
                continue  # another loop's (tests): dropped
            try:
                await smtp.noop()  # the server may have closed it while idle
                return smtp
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                smtp.close()
        smtp = self._client()
        try:
            await smtp.connect()
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as err:
            smtp.close()
            raise TemporaryFailure(f"{type(err).__name__}: {err}") from err
        return smtp

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[_Connection]:
        """One connection for several mails; kept for the next session if still sound
        (a pool of at most `max_idle`: connecting and greeting cost more than a mail)."""
        smtp = await self._checkout()
        conn = _Connection(smtp)
        sound = False
        try:
            yield conn
            sound = conn.sound and smtp.is_connected
        finally:
            if sound and len(self._idle) < self.max_idle:
                self._idle.append((asyncio.get_running_loop(), smtp))
            else:
                smtp.close()

    async def send(self, mail: Outgoing) -> None:
        async with self.session() as conn:
            await conn.send(mail)


class _Connection:
    """Sends over one open SMTP connection; a temporary failure makes it unsound."""

    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self._smtp = smtp
        self.sound = True

    async def send(self, mail: Outgoing) -> None:
        if not self.sound:
            raise TemporaryFailure("connexion SMTP interrompue")
        try:
            envelope_from = parseaddr(mail.sender)[1]
            if envelope_from.isascii() and mail.to.isascii():
                await self._smtp.sendmail(envelope_from, [mail.to], mime_bytes(mail))
            else:  # internationalised addresses: aiosmtplib negotiates SMTPUTF8
                await self._smtp.send_message(build_mime(mail))
        except aiosmtplib.SMTPRecipientsRefused as err:
            codes = [r.code for r in err.recipients]
            if codes and all(_permanent(c) for c in codes):
                raise PermanentFailure(_reason(err.recipients[0])) from err
            self.sound = False
            raise TemporaryFailure(str(err)) from err
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as err:
            if _permanent(err.code):
                raise PermanentFailure(_reason(err)) from err
            self.sound = False
            raise TemporaryFailure(_reason(err)) from err
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as err:
            # Connection refused or dropped, timeouts, 4xx, login refused (a setting to
            # fix, not a reason to drop the message): retried with backoff.
            self.sound = False
            raise TemporaryFailure(f"{type(err).__name__}: {err}") from err
        except BaseException:
            self.sound = False  # cancelled mid-conversation: the connection is unusable
            raise


def _reason(err: aiosmtplib.SMTPResponseException) -> str:
    return f"{err.code} {err.message}".strip()


class MailboxSender:
    """Files each mail in the `mailbox_message` table, as the embedded sink would.

    For workers built without an SMTP sender (tests of journey logic, benchmarks): mails
    stay readable, nothing leaves the machine."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def send(self, mail: Outgoing) -> None:
        raw = mime_bytes(mail, linesep="\n")
        sender = mail.sender

        def write() -> None:
            with self._sessions() as session:
                insert_mail(session, raw, mail_from=sender, recipients=[mail.to])
                session.commit()

        await asyncio.to_thread(write)
