"""Throttles of the ways in other than a password (records.login_throttle's kinds "reset"
and "oidc"), over HTTP against passnum's web app, a real SMTP server and a real OpenID
Provider; and ProConnect's e-mail, which comes without `email_verified`.

- Reset requests: a double click mails once; past the cap per e-mail nothing more is
  mailed and the answer stays the one every e-mail gets (no enumeration); past the cap per
  address a French refusal, the same whether the e-mail has an account or not.
- OpenID Connect: failed callbacks from one address, past the cap, get a French refusal
  before the provider is called (its code stays unredeemed), and so does the start.
- `oidc_email_verified_by_provider`: with a provider that sends no `email_verified` (as
  ProConnect), the first sign-in links only when the setting says the provider vouches for
  the e-mail; an explicit `email_verified: false` refuses whatever the setting."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update
from sqlmodel import col, func, select

from api import oidc
from api.auth import reset_throttle_rule
from config import Settings
from domain.stages import Role
from records import account_links, accounts, login_throttle
from records.account_links import LinkPurpose
from records.db import SessionFactory, begin_write
from records.models import Account, AccountLink, DeliveryStatus, LoginAttempt, MailDelivery
from records.seed import seed_default_programme
from tests.fixtures.api import DEMO_EMAILS, csrf_from, demo_password_hash, login
from tests.fixtures.browser import SMALL_SCREEN, screenshot, watch_policy_messages
from tests.fixtures.oidc import CLIENT_ID, CLIENT_SECRET, OidcStack
from tests.fixtures.smtp import SmtpServer

FORGOT = "/connexion/mot-de-passe-oublie"
ASKED = "Si un compte passnum est ouvert à cette adresse, un courriel vient d"
TOO_MANY = "Trop de demandes de lien depuis votre adresse réseau : réessayez dans"
OIDC_THROTTLED = (
    "Trop de connexions par fournisseur d&#39;identité ont échoué depuis votre adresse réseau"
)
BUTTON = "Se connecter avec ProConnect"
_CSRF = re.compile(r'name="csrf_token" value="[^"]+"')


def same_page(text: str, email: str) -> str:
    """The page without what differs by request: its CSRF token, the e-mail typed."""
    return _CSRF.sub("", text).replace(email, "EMAIL")


async def post_reset(http: httpx.AsyncClient, email: str, csrf: str) -> httpx.Response:
    return await http.post(FORGOT, data={"email": email, "csrf_token": csrf})


async def form_csrf(http: httpx.AsyncClient) -> str:
    page = await http.get(FORGOT)
    assert page.status_code == 200
    return csrf_from(page.text)


async def all_sent(sessions: SessionFactory, within: float = 20) -> int:
    """Once every delivery row is SENT: their number (the mails that will ever arrive)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        with sessions() as s:
            statuses = s.exec(select(MailDelivery.status)).all()
        if all(status == DeliveryStatus.SENT.value for status in statuses):
            return len(statuses)
        assert loop.time() < deadline, f"deliveries still {statuses}"
        await asyncio.sleep(0.02)


def count(sessions: SessionFactory, kind: str, email: str | None = None) -> int:
    with sessions() as s:
        query = select(func.count()).where(col(LoginAttempt.kind) == kind)
        if email is not None:
            query = query.where(col(LoginAttempt.email) == email)
        return int(s.exec(query).one())


def age_links(sessions: SessionFactory) -> None:
    """The links asked so far, as if asked before the double-click window (two minutes)."""
    with sessions() as s:
        s.execute(
            update(AccountLink).values(created_at=datetime.now(UTC) - account_links.RESET_COOLDOWN)
        )
        s.commit()


# ---- password-reset requests ----


@pytest.mark.parametrize("web_settings", [{"reset_max_per_email": 3}])
async def test_reset_requests_per_email_mail_once_per_click_and_stop_at_the_cap_silently(
    web_stack: OidcStack, smtp_server: SmtpServer, web_settings: dict[str, Any]
) -> None:
    sw, nobody = DEMO_EMAILS["sw"], "personne@aveyron.example"
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        csrf = await form_csrf(http)
        # A double click: two requests at once, one link, one mail; both counted.
        pages = await asyncio.gather(post_reset(http, sw, csrf), post_reset(http, sw, csrf))
        assert [p.status_code for p in pages] == [200, 200]
        assert all(ASKED in p.text for p in pages)
        assert await all_sent(web_stack.sessions) == 1
        age_links(web_stack.sessions)
        assert ASKED in (await post_reset(http, sw, csrf)).text  # the third: a second mail
        assert await all_sent(web_stack.sessions) == 2
        age_links(web_stack.sessions)
        capped = await post_reset(http, sw, csrf)  # the fourth within the hour: no mail
        # An e-mail without an account, asked as often: the same answers, never a mail.
        unknown = [await post_reset(http, nobody, csrf) for _ in range(4)]
    assert capped.status_code == 200 and ASKED in capped.text
    assert {same_page(p.text, nobody) for p in unknown} == {same_page(capped.text, sw)}
    assert await all_sent(web_stack.sessions) == 2
    with web_stack.sessions() as s:
        assert len(s.exec(select(AccountLink)).all()) == 2
    assert [m.to for m in smtp_server.mails()] == [sw, sw]
    # Refused requests are not counted: the cap is reached, not pushed further.
    assert count(web_stack.sessions, "reset", sw) == count(web_stack.sessions, "reset", nobody)
    assert count(web_stack.sessions, "reset", sw) == 3


@pytest.mark.parametrize("web_settings", [{"reset_max_per_address": 3}])
async def test_reset_requests_per_address_are_refused_in_french_whoever_is_asked_for(
    web_stack: OidcStack, smtp_server: SmtpServer, web_settings: dict[str, Any]
) -> None:
    med, sw = DEMO_EMAILS["med"], DEMO_EMAILS["sw"]
    async with httpx.AsyncClient(base_url=web_stack.base_url, timeout=30) as http:
        csrf = await form_csrf(http)
        for email in ("a@aveyron.example", "b@aveyron.example", med):
            assert ASKED in (await post_reset(http, email, csrf)).text
        known = await post_reset(http, sw, csrf)
        unknown = await post_reset(http, "c@aveyron.example", csrf)
        # Password logins from the same address are another count.
        assert (await login(http, med)).status_code == 303
    for refused in (known, unknown):
        assert refused.status_code == 429, refused.text
        assert TOO_MANY in refused.text and "utilisez le dernier courriel reçu" in refused.text
        assert 3500 < int(refused.headers["retry-after"]) <= 3600
    assert same_page(known.text, sw) == same_page(unknown.text, "c@aveyron.example")
    assert await all_sent(web_stack.sessions) == 1
    assert [m.to for m in smtp_server.mails()] == [med]
    assert count(web_stack.sessions, "reset") == 3


def test_two_reset_requests_at_once_issue_one_link(sessions: SessionFactory) -> None:
    """The page's unit of work (reserve, then a link unless one was issued a moment ago), in
    two threads at once: on PostgreSQL the reservation's advisory lock per e-mail makes the
    second wait for the first's commit, then see its link; SQLite's writers are serial."""
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    with sessions() as s:
        seed_default_programme(s)
        account = accounts.create_account(
            s,
            email="camille@aveyron.example",
            full_name="Camille",
            role=Role.ADMINISTRATOR,
            programme_code=12,
            now=now,
            password_hash=demo_password_hash(),
        )
        s.commit()
        account_id = account.id
    rule = reset_throttle_rule(Settings(database_url="sqlite://"))
    start = threading.Barrier(2)

    def ask(address: str) -> bool:
        start.wait()
        with sessions() as s:
            begin_write(s)
            reserved = login_throttle.reserve_attempt(
                s, email="Camille@aveyron.example", address=address, now=now, rule=rule
            )
            assert isinstance(reserved, int)
            found = s.get(Account, account_id)
            assert found is not None
            issued = not account_links.asked_recently(s, found, now=now)
            if issued:
                account_links.issue_link(s, found, LinkPurpose.RESET, now=now)
                time.sleep(0.2)  # the other request meanwhile waits, or would slip through
            s.commit()  # the request counts either way, as the page's does
            return issued

    with ThreadPoolExecutor(max_workers=2) as pool:
        issued = list(pool.map(ask, ["192.0.2.1", "192.0.2.2"]))
    assert sorted(issued) == [False, True]
    with sessions() as s:
        assert len(s.exec(select(AccountLink)).all()) == 1
    assert count(sessions, "reset", "camille@aveyron.example") == 2


# ---- OpenID Connect sign-ins ----


@pytest.mark.parametrize("web_settings", [{"oidc_free_failures": 2, "oidc_max_failures": 3}])
async def test_failed_sign_ins_from_one_address_are_refused_before_the_provider_is_called(
    browser: Browser, oidc_stack: OidcStack, web_settings: dict[str, Any]
) -> None:
    context = await browser.new_context(
        base_url=oidc_stack.base_url, viewport=SMALL_SCREEN, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    violations = await watch_policy_messages(context)
    try:
        page = await context.new_page()
        # A genuine sign-in begins: the browser is at the provider...
        await page.goto("/connexion")
        await page.get_by_role("link", name=BUTTON).click()
        await expect(page.locator("input[name=login]")).to_be_visible()
        (pending,) = [c for c in await context.cookies() if c["name"] == oidc.PENDING_COOKIE]
        sealed = oidc.unseal(oidc_stack.settings, pending["value"], time.time())
        assert sealed is not None
        # ...while answers come back from the same address (all tests' clients are
        # 127.0.0.1): a cancellation at the provider (not the client's failure: not
        # counted), then a forged state, then none at all.
        cancelled = {"error": "access_denied", "state": sealed["state"]}
        async with httpx.AsyncClient(
            base_url=oidc_stack.base_url, cookies={oidc.PENDING_COOKIE: pending["value"]}
        ) as http:
            cancel = await http.get(oidc.CALLBACK_PATH, params=cancelled)
            assert cancel.status_code == 400 and "annulée" in cancel.text
        assert count(oidc_stack.sessions, "oidc") == 0
        async with httpx.AsyncClient(base_url=oidc_stack.base_url) as http:
            failed = [
                await http.get(oidc.CALLBACK_PATH, params={"code": "forged", "state": "x"}),
                await http.get(oidc.CALLBACK_PATH),
            ]
            assert [r.status_code for r in failed] == [400, 400]
            assert "n&#39;a pas pu être vérifiée" in failed[0].text
            assert count(oidc_stack.sessions, "oidc") == 2
            # Two free failures used: the next one waits 2 s.
            refused = await http.get(oidc.CALLBACK_PATH, params={"code": "x", "state": "y"})
            assert refused.status_code == 429 and OIDC_THROTTLED in refused.text
            assert refused.headers["retry-after"] in ("1", "2")
            await asyncio.sleep(2)
            third = await http.get(oidc.CALLBACK_PATH, params={"code": "x", "state": "y"})
            assert third.status_code == 400
            assert count(oidc_stack.sessions, "oidc") == 3  # the cap: refused for the window

        # The genuine answer is refused too, before its code is exchanged.
        callbacks: list[str] = []
        page.on(
            "request",
            lambda request: (
                callbacks.append(request.url) if oidc.CALLBACK_PATH in request.url else None
            ),
        )
        await page.locator("input[name=login]").fill("agent-sw")
        await page.locator("input[name=password]").fill("any")
        await page.get_by_role("button", name="Sign-in").click()
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Connexion refusée")
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text(
            "Trop de connexions par fournisseur d'identité ont échoué depuis votre adresse"
        )
        await expect(alert).to_contain_text("heures (à partir de ")
        await expect(alert).to_contain_text("connectez-vous avec votre mot de passe")
        await screenshot(page, "oidc-throttled")
        # Starting again is refused at once, rather than after the trip to the provider.
        await page.goto("/connexion")
        await page.get_by_role("link", name=BUTTON).click()
        await expect(page.get_by_role("alert")).to_contain_text("Trop de connexions")
        assert page.url.startswith(oidc_stack.base_url)
    finally:
        await context.close()
    assert not violations, "\n".join(violations)
    assert count(oidc_stack.sessions, "oidc") == 3  # refusals are not counted
    with oidc_stack.sessions() as s:
        sw = s.exec(select(Account).where(Account.id == oidc_stack.people["sw"].id)).one()
        assert sw.oidc_subject is None
    # The provider's code was never redeemed by passnum: it still is, once.
    (callback,) = callbacks
    code = re.search(r"[?&]code=([^&]+)", callback)
    assert code is not None
    provider = await oidc.discover(oidc_stack.settings)
    async with httpx.AsyncClient() as http:
        exchanged = await http.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code[1],
                "redirect_uri": oidc.redirect_uri(oidc_stack.settings),
                "code_verifier": sealed["verifier"],
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert exchanged.status_code == 200, exchanged.text
    assert "id_token" in exchanged.json()


# ---- ProConnect's e-mail: no email_verified claim ----


def test_email_verified_claim_and_setting() -> None:
    strict = Settings(database_url="sqlite://")
    trusting = strict.model_copy(update={"oidc_email_verified_by_provider": True})
    cases: list[tuple[dict[str, Any], bool, bool]] = [
        ({"email_verified": True}, True, True),
        ({"email_verified": False}, False, False),
        ({}, False, True),
        ({"email_verified": "true"}, False, False),  # not a boolean: not vouched
    ]
    for claims, by_strict, by_trusting in cases:
        assert oidc.email_verified(strict, claims) is by_strict, claims
        assert oidc.email_verified(trusting, claims) is by_trusting, claims


async def sign_in(page: Page, login: str) -> None:
    await page.goto("/connexion")
    await page.get_by_role("link", name=BUTTON).click()
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


@pytest.mark.parametrize(
    ("provider_env", "web_settings", "login", "links"),
    [
        ({"OIDC_NO_EMAIL_VERIFIED": "1"}, {}, "agent-sw", False),
        (
            {"OIDC_NO_EMAIL_VERIFIED": "1"},
            {"oidc_email_verified_by_provider": True},
            "agent-sw",
            True,
        ),
        ({}, {"oidc_email_verified_by_provider": True}, "agent-unverified", False),
    ],
    ids=["no-claim-strict", "no-claim-vouched", "claim-false-vouched"],
)
async def test_a_provider_without_email_verified_links_only_when_it_is_vouched_for(
    browser: Browser,
    oidc_stack: OidcStack,
    provider_env: dict[str, str],
    web_settings: dict[str, Any],
    login: str,
    links: bool,
) -> None:
    who = "sw" if login == "agent-sw" else "med"
    context = await browser.new_context(
        base_url=oidc_stack.base_url, viewport=SMALL_SCREEN, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()
        await sign_in(page, login)
        if links:
            await expect(page).to_have_url(re.compile(r"/accompagnement$"))
        else:
            await expect(page.get_by_role("alert")).to_contain_text(
                "Votre fournisseur d'identité n'a pas vérifié votre adresse e-mail"
            )
    finally:
        await context.close()
    with oidc_stack.sessions() as s:
        account = s.exec(select(Account).where(Account.id == oidc_stack.people[who].id)).one()
        assert (account.oidc_subject == login) is links
    # A refusal counts as a failure from the address; a sign-in leaves nothing counted.
    assert count(oidc_stack.sessions, "oidc") == (0 if links else 1)
