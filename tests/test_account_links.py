"""One-time links by e-mail: "mot de passe oublié" and administrators' invitations, over
HTTP against passnum's web app and a real SMTP server. A link is stored hashed, expires,
serves once; asking with an unknown address answers the same and mails nothing; the mails
go through the outbox's delivery rows and match their snapshots."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import update
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.stages import Role
from notifications.delivery import MailSettings
from notifications.rendering import render_template
from records import account_links, accounts
from records.account_links import LinkPurpose, LinkRefusal
from records.db import SessionFactory
from records.models import Account, AccountLink, AdminAudit, DeliveryStatus, MailDelivery
from records.seed import DEMO_PASSWORD
from temporal_client import data_converter
from tests.fixtures.api import DEMO_EMAILS, csrf_from, demo_password_hash, login
from tests.fixtures.browser import SMALL_SCREEN, screenshot, watch_policy_messages
from tests.fixtures.oidc import OidcStack
from tests.fixtures.smtp import SmtpServer
from worker import sandbox_runner
from workflows.account_mail import AccountMailWorkflow

NEW_PASSWORD = "un-nouveau-mot-de-passe-solide"
LINK = re.compile(r"(https?://[^\s]+/compte/lien/[A-Za-z0-9_-]+)")
SNAPSHOTS = Path(__file__).parent / "snapshots" / "mail"
UPDATE = os.environ.get("PASSNUM_UPDATE_SNAPSHOTS") == "1"
ASKED = "Si un compte passnum est ouvert à cette adresse, un courriel vient d"


async def ask_reset(http: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await http.get("/connexion/mot-de-passe-oublie")
    assert page.status_code == 200
    return await http.post(
        "/connexion/mot-de-passe-oublie",
        data={"email": email, "csrf_token": csrf_from(page.text)},
    )


async def choose_password(http: httpx.AsyncClient, url: str, password: str) -> httpx.Response:
    page = await http.get(url)
    assert page.status_code == 200, page.text
    return await http.post(
        url,
        data={"password": password, "confirmation": password, "csrf_token": csrf_from(page.text)},
    )


async def sent_delivery(sessions: SessionFactory, within: float = 15) -> MailDelivery:
    """The only delivery row, once recorded SENT (just after the SMTP server accepted it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        with sessions() as s:
            (delivery,) = s.exec(select(MailDelivery)).all()
        if delivery.status == DeliveryStatus.SENT.value:
            return delivery
        assert loop.time() < deadline, f"delivery still {delivery.status}"
        await asyncio.sleep(0.02)


def link_in(text: str, base_url: str) -> str:
    found = LINK.search(text)
    assert found, text
    assert found[1].startswith(base_url)
    return found[1]


async def test_forgotten_password_by_mail_then_the_link_serves_once(
    web_stack: OidcStack, smtp_server: SmtpServer
) -> None:
    email = DEMO_EMAILS["sw"]
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        login_page = await http.get("/connexion")
        assert 'href="/connexion/mot-de-passe-oublie"' in login_page.text
        asked = await ask_reset(http, email.upper())
        assert asked.status_code == 200 and ASKED in asked.text
        (mail,) = await smtp_server.wait_for(1)
        assert mail.to == email and mail.kind == "PASSWORD_RESET"
        assert mail.subject == "Réinitialiser votre mot de passe passnum"
        url = link_in(mail.text(), web_stack.base_url)
        assert url in mail.html()
        token = url.rsplit("/", 1)[1]
        with web_stack.sessions() as s:
            (link,) = s.exec(select(AccountLink)).all()
            assert link.token_hash == accounts.token_digest(token) and token not in link.token_hash
            assert link.purpose == "RESET" and link.used_at is None
            assert timedelta(minutes=59) < link.expires_at - link.created_at <= timedelta(hours=1)
        delivery = await sent_delivery(web_stack.sessions)
        assert delivery.message_id == mail.message_id and delivery.kind == "PASSWORD_RESET"

        # A signed-in browser elsewhere is signed out by the new password.
        other = httpx.AsyncClient(base_url=web_stack.base_url, timeout=30)
        assert (await login(other, email)).status_code == 303
        page = await http.get(url)
        assert "Nouveau mot de passe" in page.text and email in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        weak = await http.post(
            url,
            data={"password": "court", "confirmation": "court", "csrf_token": csrf_from(page.text)},
        )
        assert weak.status_code == 422 and "au moins 12 caractères" in weak.text
        done = await choose_password(http, url, NEW_PASSWORD)
        assert done.status_code == 200 and "Mot de passe enregistré" in done.text
        assert (await other.get("/accompagnement")).status_code == 303
        await other.aclose()

        # Used: refused in French, the password stays the new one.
        again = await http.get(url)
        assert again.status_code == 410 and "déjà servi" in again.text
        assert (await login(http, email, DEMO_PASSWORD)).status_code == 401
        assert (await login(http, email, NEW_PASSWORD)).status_code == 303


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    web_stack: OidcStack, smtp_server: SmtpServer
) -> None:
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        known = await ask_reset(http, DEMO_EMAILS["med"])
        unknown = await ask_reset(http, "personne@aveyron.example")
    assert known.status_code == unknown.status_code == 200
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", known.text) == strip.sub("", unknown.text)
    await smtp_server.wait_for(1)
    with web_stack.sessions() as s:
        assert len(s.exec(select(MailDelivery)).all()) == 1
        assert len(s.exec(select(AccountLink)).all()) == 1
    assert [m.to for m in smtp_server.mails()] == [DEMO_EMAILS["med"]]


async def test_an_expired_link_is_refused_and_a_new_one_ends_the_old(
    web_stack: OidcStack, smtp_server: SmtpServer
) -> None:
    email = DEMO_EMAILS["med"]
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        await ask_reset(http, email)
        (first,) = await smtp_server.wait_for(1)
        # Asked again at once: the same answer, no second mail (the first holds the link).
        assert ASKED in (await ask_reset(http, email)).text
        with web_stack.sessions() as s:
            assert len(s.exec(select(AccountLink)).all()) == 1
            s.execute(
                update(AccountLink).values(
                    created_at=datetime.now(UTC) - account_links.RESET_COOLDOWN
                )
            )
            s.commit()
        await ask_reset(http, email)
        second = (await smtp_server.wait_for(2))[1]
        old, new = (link_in(m.text(), web_stack.base_url) for m in (first, second))
        assert old != new
        refused = await http.get(old)
        assert refused.status_code == 410 and "a expiré" in refused.text
        with web_stack.sessions() as s:
            s.execute(
                update(AccountLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            s.commit()
        page = await http.get(new)
        assert page.status_code == 410 and "Ce lien a expiré" in page.text
        unknown = await http.get("/compte/lien/pas-un-vrai-jeton")
        assert unknown.status_code == 404 and "n&#39;est pas valide" in unknown.text
    assert (await login(httpx.AsyncClient(base_url=web_stack.base_url), email)).status_code == 303


async def test_an_administrator_invites_instead_of_typing_a_password(
    web_stack: OidcStack, smtp_server: SmtpServer
) -> None:
    email = "nouvelle.coordinatrice@aveyron.example"
    admin = httpx.AsyncClient(base_url=web_stack.base_url, timeout=30)
    assert (await login(admin, DEMO_EMAILS["admin"])).status_code == 303
    form = await admin.get("/administration/comptes/nouveau")
    assert "Laissez vide pour envoyer une invitation" in form.text
    created = await admin.post(
        "/administration/comptes/nouveau",
        data={
            "full_name": "Nadia Coordinatrice",
            "email": email,
            "role": Role.COORDINATOR.value,
            "csrf_token": csrf_from(form.text),
        },
    )
    assert created.status_code == 303, created.text
    shown = await admin.get(created.headers["location"])
    assert "l&#39;invitation part par courriel" in shown.text
    assert "Pas encore choisi" in shown.text
    # Sent again: a new link, the first one stops working.
    again = await admin.post(
        created.headers["location"].split("?")[0] + "/inviter",
        data={"csrf_token": csrf_from(shown.text)},
    )
    assert again.status_code == 303 and again.headers["location"].endswith("fait=reinvite")
    first, mail = await smtp_server.wait_for(2)
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        assert (await http.get(link_in(first.text(), web_stack.base_url))).status_code == 410
    assert mail.to == email and mail.kind == "ACCOUNT_INVITATION"
    with web_stack.sessions() as s:
        admin_name = s.exec(
            select(Account.full_name).where(Account.id == web_stack.people["admin"].id)
        ).one()
        assert f"{admin_name} vous a ouvert un compte passnum" in mail.text()
        account = s.exec(select(Account).where(Account.email == email)).one()
        assert account.password_hash is None
        links = s.exec(select(AccountLink).order_by(col(AccountLink.id))).all()
        assert [link.purpose for link in links] == ["INVITATION", "INVITATION"]
        assert {link.created_by for link in links} == {web_stack.people["admin"].id}
        assert links[1].expires_at - links[1].created_at == timedelta(days=7)
        actions = s.exec(select(AdminAudit.action).order_by(col(AdminAudit.id))).all()
        assert actions[-3:] == ["ACCOUNT_CREATED", "INVITATION_SENT", "INVITATION_SENT"]

    url = link_in(mail.text(), web_stack.base_url)
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        assert (await login(http, email, NEW_PASSWORD)).status_code == 401
        page = await http.get(url)
        assert "Activer mon compte" in page.text
        assert (await choose_password(http, url, NEW_PASSWORD)).status_code == 200
        assert (await login(http, email, NEW_PASSWORD)).status_code == 303
        assert (await http.get(url)).status_code == 410
    # With a password chosen, no more invitation.
    assert (await admin.get(created.headers["location"])).text.count("Renvoyer l") == 0
    page = await admin.get(created.headers["location"])
    refused = await admin.post(
        created.headers["location"].split("?")[0] + "/inviter",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 409 and "déjà un mot de passe" in refused.text
    await admin.aclose()


def test_a_link_is_hashed_expires_and_serves_once(seeded_sqlite_sessions: SessionFactory) -> None:
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    with seeded_sqlite_sessions() as s:
        account = accounts.create_account(
            s,
            email="x@aveyron.example",
            full_name="X",
            role=Role.ADMINISTRATOR,
            programme_code=12,
            now=now,
            password_hash=demo_password_hash(),
        )
        link, token = account_links.issue_link(s, account, LinkPurpose.RESET, now=now)
        assert link.token_hash == accounts.token_digest(token)
        later = now + timedelta(minutes=59)
        assert account_links.find_link(s, token, now=later) == (link, account)
        assert account_links.find_link(s, token, now=now + timedelta(hours=1)) is (
            LinkRefusal.EXPIRED
        )
        assert account_links.use_link(s, token, "hash", now=later) == account
        assert account.password_hash == "hash"
        assert account_links.use_link(s, token, "other", now=later) is LinkRefusal.USED
        assert account_links.find_link(s, "nope", now=later) is LinkRefusal.UNKNOWN


@pytest.mark.parametrize("template", ["account_invitation", "password_reset"])
def test_account_mails_match_their_snapshots(template: str) -> None:
    mail = MailSettings.local()
    rendered = render_template(
        template,
        {
            "programme_name": "Pass numérique Aveyron",
            "for_beneficiary": False,
            "name": "Nadia <Coordinatrice>",
            "email": "nadia@aveyron.example",
            "url": f"{mail.base_url}/compte/lien/JETON",
            "expires_day": datetime(2027, 3, 8).date(),
            "expires_time": "10:00",
            "invited_by": "Alex Administrateur",
        },
    )
    assert "Nadia &lt;Coordinatrice&gt;" in rendered.html
    for suffix, actual in (
        (".subject.txt", rendered.subject + "\n"),
        (".txt", rendered.text),
        (".html", rendered.html),
    ):
        path = SNAPSHOTS / f"{template}{suffix}"
        if UPDATE:
            path.write_text(actual, encoding="utf-8")
            continue
        assert path.exists(), f"no snapshot {path.name}: run with PASSNUM_UPDATE_SNAPSHOTS=1"
        assert actual == path.read_text(encoding="utf-8"), f"{path.name} changed"


async def test_in_chromium_a_forgotten_password_is_chosen_again(
    browser: Browser, web_stack: OidcStack, smtp_server: SmtpServer
) -> None:
    context = await browser.new_context(
        base_url=web_stack.base_url, viewport=SMALL_SCREEN, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    violations = await watch_policy_messages(context)
    try:
        page = await context.new_page()
        await page.goto("/connexion")
        await page.get_by_role("link", name="Mot de passe oublié ?").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe oublié")
        await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_all"])
        await page.get_by_role("button", name="Recevoir un lien").click()
        await expect(page.get_by_role("status")).to_contain_text("un courriel vient d")
        (mail,) = await smtp_server.wait_for(1)
        await page.goto(link_in(mail.text(), web_stack.base_url))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau mot de passe")
        await page.get_by_label(re.compile(r"^Mot de passe")).fill(NEW_PASSWORD)
        await page.get_by_label("Le même, une seconde fois").fill(NEW_PASSWORD + "x")
        await page.get_by_role("button", name="Enregistrer le mot de passe").click()
        await expect(page.get_by_role("alert").first).to_contain_text("pas les mêmes")
        await page.get_by_label(re.compile(r"^Mot de passe")).fill(NEW_PASSWORD)
        await page.get_by_label("Le même, une seconde fois").fill(NEW_PASSWORD)
        await page.get_by_role("button", name="Enregistrer le mot de passe").click()
        await expect(page.get_by_role("status")).to_contain_text(
            "Votre mot de passe est enregistré"
        )
        await page.get_by_role("link", name="Se connecter").click()
        await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_all"])
        await page.get_by_label("Mot de passe").fill(NEW_PASSWORD)
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page).to_have_url(re.compile(r"/coordination"))
        await screenshot(page, "password-reset")
    finally:
        await context.close()
    assert not violations, "\n".join(violations)


async def test_a_reset_mail_waits_for_the_relay_and_its_workflow_replays(
    web_stack: OidcStack, smtp_server: SmtpServer, dev_server: WorkflowEnvironment
) -> None:
    """The relay is down when the reset is asked: the worker retries until it is back, the
    delivery row counts the attempts; the workflow's history replays."""
    smtp_server.stop()
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        assert ASKED in (await ask_reset(http, DEMO_EMAILS["sw"])).text

    def failed_once() -> bool:
        """An attempt met the closed port (counted when claimed, released with its error)."""
        with web_stack.sessions() as s:
            found = s.exec(select(MailDelivery)).first()
            return found is not None and found.attempts >= 1 and found.last_error is not None

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not failed_once():
        assert loop.time() < deadline, "no attempt to send"
        await asyncio.sleep(0.05)
    smtp_server.start()
    (mail,) = await smtp_server.wait_for(1, within=30)
    delivery = await sent_delivery(web_stack.sessions, within=30)
    assert delivery.attempts >= 2 and mail.kind == "PASSWORD_RESET"

    handle = dev_server.client.get_workflow_handle(f"account-mail-{delivery.id}")
    assert await handle.result() == DeliveryStatus.SENT.value
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=[AccountMailWorkflow],
        data_converter=data_converter(web_stack.settings),
        workflow_runner=sandbox_runner(),
    )
    await replayer.replay_workflow(history)
