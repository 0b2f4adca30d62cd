"""The embedded SMTP sink: mails sent over real SMTP are filed and read back, and
administrators (only) see them in the app."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from api.security_headers import MAIL_POLICY
from notifications.sender import MailboxSender, Outgoing, SmtpSender, TemporaryFailure
from notifications.sink import list_mails, read_mail, start_sink, store_mail
from records.db import SessionFactory, make_engine, session_factory
from tests.fixtures.api import DEMO_EMAILS, Stack, login

MAIL = Outgoing(
    message_id="<abc123@passnum.test>",
    sender="Pass numérique <ne-pas-repondre@passnum.test>",
    to="lea.martin@ccas.example",
    subject="Orientation enregistrée : Marie Dupont (3F2A9C1E)",
    text="Bonjour Léa,\n\nL'orientation est enregistrée.\n",
    html="<p>Bonjour Léa,</p><p>L'orientation est <strong>enregistrée</strong>.</p>",
)


async def test_the_sink_files_what_it_receives(seeded_sqlite_sessions: SessionFactory) -> None:
    controller = start_sink(seeded_sqlite_sessions, "127.0.0.1", 0)  # the system picks the port
    try:
        assert controller.port != 0
        await SmtpSender("127.0.0.1", controller.port).send(MAIL)
        for _ in range(100):
            with seeded_sqlite_sessions() as session:
                mails = list_mails(session)
            if mails:
                break
            await asyncio.sleep(0.02)
    finally:
        controller.stop()
    (row,) = mails
    assert row.recipients == ["lea.martin@ccas.example"]
    assert row.subject == MAIL.subject and row.message_id == MAIL.message_id
    with seeded_sqlite_sessions() as session:
        view = read_mail(session, row.id)  # type: ignore[arg-type]
        assert read_mail(session, row.id + 1) is None  # type: ignore[operator]
    assert view is not None
    assert view.text.replace("\r\n", "\n") == MAIL.text
    assert view.html is not None and "<strong>enregistrée</strong>" in view.html


async def test_a_mail_sent_again_is_filed_once(seeded_sqlite_sessions: SessionFactory) -> None:
    """The same Message-ID again (a worker died after the sink accepted the mail, before
    recording it, and its retry sent it again): accepted, folded as a mail client folds it."""
    controller = start_sink(seeded_sqlite_sessions, "127.0.0.1", 0)
    try:
        await SmtpSender("127.0.0.1", controller.port).send(MAIL)
        await SmtpSender("127.0.0.1", controller.port).send(MAIL)
        other = replace(MAIL, message_id="<def456@passnum.test>")
        await SmtpSender("127.0.0.1", controller.port).send(other)
    finally:
        controller.stop()
    with seeded_sqlite_sessions() as session:
        mails = list_mails(session)
    assert sorted(m.message_id or "" for m in mails) == [MAIL.message_id, other.message_id]


async def test_mail_writers_at_once_all_file(seeded_sqlite_sessions: SessionFactory) -> None:
    """Filing reads (is the Message-ID filed?) then writes: on SQLite the writers take the
    write lock first, else one whose snapshot another has overtaken fails at once
    ("database is locked") instead of waiting its turn."""
    sender = MailboxSender(seeded_sqlite_sessions)
    mails = [replace(MAIL, message_id=f"<m{i}@passnum.test>") for i in range(120)]
    await asyncio.gather(*(sender.send(m) for m in mails))
    with seeded_sqlite_sessions() as session:
        filed = list_mails(session, limit=1000)
    assert sorted(m.message_id or "" for m in filed) == sorted(m.message_id for m in mails)


async def test_a_mailbox_out_of_reach_refuses_for_now(tmp_path: Path) -> None:
    """The sink cannot file the mail (its database is away: here, never migrated): a
    temporary refusal, which the sender retries, never a final one (the mail lost)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    controller = start_sink(session_factory(engine), "127.0.0.1", 0)
    try:
        with pytest.raises(TemporaryFailure, match="451"):
            await SmtpSender("127.0.0.1", controller.port).send(MAIL)
    finally:
        controller.stop()
        engine.dispose()


@pytest.mark.devserver
async def test_administrators_read_the_mailbox_and_nobody_else(api_stack: Stack) -> None:
    from notifications.sender import build_mime

    with api_stack.sessions() as session:
        row = store_mail(
            session, build_mime(MAIL).as_bytes(), mail_from=MAIL.sender, recipients=[MAIL.to]
        )
        session.commit()
    http = api_stack.http
    await login(http, DEMO_EMAILS["sw"])
    assert (await http.get("/administration/courriels")).status_code == 403
    assert (await http.get(f"/administration/courriels/{row.id}/html")).status_code == 403
    await http.post("/deconnexion", data={})  # best effort: a fresh login replaces it
    http.cookies.clear()
    await login(http, DEMO_EMAILS["admin"])
    page = await http.get("/administration/courriels")
    assert page.status_code == 200, page.text
    assert "Orientation enregistrée : Marie Dupont (3F2A9C1E)" in page.text
    one = await http.get(f"/administration/courriels/{row.id}")
    assert one.status_code == 200
    # The HTML part in a sandboxed frame, served apart under a policy that runs nothing.
    frame = f'sandbox="" src="/administration/courriels/{row.id}/html"'
    assert frame in one.text and "<strong>enregistrée" not in one.text
    assert "frame-src 'self'" in one.headers["content-security-policy"]
    html = await http.get(f"/administration/courriels/{row.id}/html")
    assert html.status_code == 200 and "<strong>enregistrée</strong>" in html.text
    assert html.headers["content-security-policy"] == MAIL_POLICY
    assert html.headers["x-frame-options"] == "SAMEORIGIN"
    assert html.headers["cache-control"] == "no-store"
    assert (await http.get(f"/administration/courriels/{row.id + 999}")).status_code == 404  # type: ignore[operator]
