"""Sending details behind the delivery guarantees: the MIME written by hand reads as the
`email` package's own message, and SMTP connections are kept between activities but never
trusted blindly (a connection the server dropped is replaced before any mail is sent)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from domain.mail import DeliverNotices
from notifications.sender import Outgoing, SmtpSender, build_mime, mime_bytes
from records.db import SessionFactory
from tests.fixtures.smtp import SmtpServer, notification_activities
from tests.test_notifications_delivery import refer

HEADERS = ("From", "To", "Subject", "Message-ID", "Auto-Submitted", "X-Passnum-Kind")


def _parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize(
    "subject",
    [
        "À transmettre à Marie Dupont : orientation vers la Médiathèque de Saint-Étienne-du-Rouvray",
        "Short",
        "x" * 120,
    ],
)
def test_written_mime_reads_as_the_email_package_message(subject: str) -> None:
    mail = Outgoing(
        message_id="<abc@passnum.test>",
        sender="Pass numérique <ne-pas-repondre@passnum.test>",
        to="lea@ccas.example",
        subject=subject,
        text="Bonjour Léa,\n\nUne ligne accentuée : éèàç.\n" * 30,
        html="<p>Bonjour L&eacute;a, éèàç</p>\n" * 30,
        headers={"X-Passnum-Kind": "REFERRAL_RECORDED"},
    )
    ours, theirs = _parse(mime_bytes(mail)), _parse(build_mime(mail).as_bytes())
    assert not ours.defects and all(not part.defects for part in ours.walk())
    for name in HEADERS:
        assert str(ours[name]) == str(theirs[name]), name
    for kind in ("plain", "html"):
        mine, other = ours.get_body((kind,)), theirs.get_body((kind,))
        assert mine is not None and other is not None
        assert mine.get_content().replace("\r\n", "\n") == other.get_content()


def test_a_line_break_in_an_address_is_refused() -> None:
    mail = Outgoing("<a@b>", "x@passnum.test", "a@b.fr\r\nBcc: c@d.fr", "s", "t", "h")
    with pytest.raises(ValueError):
        mime_bytes(mail)


async def test_connections_are_kept_and_a_dropped_one_is_replaced(
    seeded_sqlite_sessions: SessionFactory, smtp_server: SmtpServer
) -> None:
    sessions = seeded_sqlite_sessions
    acts = notification_activities(sessions, smtp_server)
    sender = acts.deliveries.sender
    assert isinstance(sender, SmtpSender)
    await acts.deliver_notices(DeliverNotices(refer(sessions), 1))
    assert len(sender._idle) == 1
    kept = sender._idle[0][1]
    await acts.deliver_notices(DeliverNotices(refer(sessions), 1))
    assert [smtp for _, smtp in sender._idle] == [kept]  # the same connection again
    assert len(smtp_server.mails()) == 4
    # The server restarts: the kept connection is dead, found so before sending.
    smtp_server.stop()
    smtp_server.start()
    report = await acts.deliver_notices(DeliverNotices(refer(sessions), 1))
    assert (report.sent, report.failed) == (2, 0)
    assert len(smtp_server.mails()) == 6
    assert [smtp for _, smtp in sender._idle] != [kept]
