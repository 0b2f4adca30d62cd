"""OpenID Connect sign-in in headless Chromium against a real OpenID Provider (oidc-provider,
started on loopback by `oidc_stack`): first sign-in links the account by verified e-mail,
later ones by subject; unknown and unverified people are refused in French; an altered
state or a replayed answer is refused, and so is an altered ID token; logging out ends the
provider's session too."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import KeySet
from playwright.async_api import Browser, Page, expect
from sqlmodel import select
from temporalio.client import Client

from api import oidc
from api.app import create_app
from config import Settings
from records.models import Account, WebSession
from tests.fixtures.browser import SMALL_SCREEN, screenshot, watch_policy_messages
from tests.fixtures.oidc import OidcStack

BUTTON = "Se connecter avec ProConnect"


@pytest_asyncio.fixture
async def oidc_page(browser: Browser, oidc_stack: OidcStack) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=oidc_stack.base_url, viewport=SMALL_SCREEN, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    violations = await watch_policy_messages(context)
    try:
        yield await context.new_page()
    finally:
        await context.close()
    assert not violations, "\n".join(violations)


async def sign_in_at_provider(page: Page, login: str) -> None:
    """From passnum's login page: the button, then the provider's development login and
    consent pages (any password)."""
    await page.goto("/connexion")
    await page.get_by_role("link", name=BUTTON).click()
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


def account(stack: OidcStack, who: str) -> Account:
    with stack.sessions() as s:
        found = s.exec(select(Account).where(Account.id == stack.people[who].id)).one()
        s.expunge(found)
        return found


async def test_first_sign_in_links_by_email_then_by_subject_and_logout_ends_both(
    oidc_page: Page, oidc_stack: OidcStack
) -> None:
    page = oidc_page
    assert account(oidc_stack, "sw").oidc_subject is None
    # The provider's e-mail differs in case only: linked, lower-cased.
    await sign_in_at_provider(page, "agent-sw")
    await expect(page).to_have_url(re.compile(r"/accompagnement$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes orientations")
    assert account(oidc_stack, "sw").oidc_subject == "agent-sw"
    await screenshot(page, "oidc-signed-in")

    # Logging out ends passnum's session, then the provider's (its confirmation page),
    # which sends the browser back to passnum's login page.
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page).to_have_url(re.compile(r"^" + re.escape(oidc_stack.issuer)))
    await page.get_by_role("button", name="Yes, sign me out").click()
    await expect(page).to_have_url(re.compile(re.escape(oidc_stack.base_url) + r"/connexion"))
    with oidc_stack.sessions() as s:
        assert s.exec(select(WebSession)).all() == []
    await page.goto("/accompagnement")
    await expect(page).to_have_url(re.compile(r"/connexion\?suivant=.*$"))

    # Later sign-ins find the account by subject, whatever its e-mail has become; the
    # provider asks for the login again (its session ended).
    with oidc_stack.sessions() as s:
        sw = s.exec(select(Account).where(Account.id == oidc_stack.people["sw"].id)).one()
        sw.email = "nouvelle.adresse@aveyron.example"
        s.add(sw)
        s.commit()
    await sign_in_at_provider(page, "agent-sw")
    await expect(page).to_have_url(re.compile(r"/accompagnement$"))


async def test_an_unknown_person_is_told_whom_to_ask_and_gets_no_account(
    oidc_page: Page, oidc_stack: OidcStack
) -> None:
    page = oidc_page
    with oidc_stack.sessions() as s:
        before = len(s.exec(select(Account)).all())
    await sign_in_at_provider(page, "agent-unknown")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Connexion refusée")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(
        "Aucun compte passnum n'est ouvert à l'adresse inconnu@aveyron.example"
    )
    await expect(alert).to_contain_text("l'administrateur de votre programme Pass numérique")
    await screenshot(page, "oidc-unknown")
    with oidc_stack.sessions() as s:
        assert len(s.exec(select(Account)).all()) == before
        assert s.exec(select(WebSession)).all() == []
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/connexion$"))


async def test_an_unverified_email_links_nothing(oidc_page: Page, oidc_stack: OidcStack) -> None:
    page = oidc_page
    await sign_in_at_provider(page, "agent-unverified")  # the demo mediator's e-mail
    await expect(page.get_by_role("alert")).to_contain_text(
        "Votre fournisseur d'identité n'a pas vérifié votre adresse e-mail"
    )
    assert account(oidc_stack, "med").oidc_subject is None
    with oidc_stack.sessions() as s:
        assert s.exec(select(WebSession)).all() == []


async def test_an_altered_state_or_a_replayed_answer_is_refused(
    oidc_page: Page, oidc_stack: OidcStack
) -> None:
    page = oidc_page
    # The provider sends back the state it was given: altered on the way there, it no
    # longer matches the pending sign-in's.
    start = await page.context.request.get(oidc.START_PATH, max_redirects=0)
    assert start.status == 303
    to_provider = start.headers["location"]
    assert "code_challenge_method=S256" in to_provider and "nonce=" in to_provider
    await page.goto(re.sub(r"([?&])state=[^&]+", r"\1state=altered", to_provider))
    await page.locator("input[name=login]").fill("agent-sw")
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "n'a pas pu être vérifiée (réponse invalide, altérée ou expirée)"
    )
    await screenshot(page, "oidc-altered")
    with oidc_stack.sessions() as s:
        assert s.exec(select(WebSession)).all() == []

    # A genuine answer, replayed once it has served: refused.
    callbacks: list[str] = []
    page.on(
        "request",
        lambda request: (
            callbacks.append(request.url) if oidc.CALLBACK_PATH in request.url else None
        ),
    )
    # The provider remembers the person and the consent: straight back to passnum.
    await page.goto("/connexion")
    await page.get_by_role("link", name=BUTTON).click()
    await expect(page).to_have_url(re.compile(r"/accompagnement$"))
    assert len(callbacks) == 1
    await page.context.clear_cookies()
    response = await page.goto(callbacks[0])
    assert response is not None and response.status == 400
    await expect(page.get_by_role("alert")).to_contain_text("n'a pas pu être vérifiée")
    with oidc_stack.sessions() as s:
        assert len(s.exec(select(WebSession)).all()) == 1


async def test_an_altered_id_token_is_refused(oidc_page: Page, oidc_stack: OidcStack) -> None:
    """A genuine ID token of the provider (kept by the session it opened), checked again
    as passnum does: it passes; altered in its signature, claims, nonce or audience, it is
    refused."""
    page = oidc_page
    await sign_in_at_provider(page, "agent-sw")
    await expect(page).to_have_url(re.compile(r"/accompagnement$"))
    with oidc_stack.sessions() as s:
        token = s.exec(select(WebSession.oidc_id_token)).one()
    assert token is not None
    settings = oidc_stack.settings
    provider = await oidc.discover(settings)
    async with httpx.AsyncClient() as http:
        keys = KeySet.import_key_set((await http.get(provider.jwks_uri)).json())
    header, payload, signature = token.split(".")
    nonce = _nonce(token)
    assert oidc.verify_id_token(settings, provider, keys, token, nonce)["sub"] == "agent-sw"

    def check(id_token: str, expected_nonce: str = nonce) -> None:
        with pytest.raises(oidc.OidcRefused) as refused:
            oidc.verify_id_token(settings, provider, keys, id_token, expected_nonce)
        assert "n'a pas pu être vérifiée" in refused.value.message

    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    check(f"{header}.{payload}.{flipped}")
    check(f"{header}.{_with_claim(payload, 'sub', 'agent-unknown')}.{signature}")
    check(f"{header}.{_with_claim(payload, 'email', 'admin@aveyron.example')}.{signature}")
    check(token, expected_nonce="another-nonce")
    other = settings.model_copy(update={"oidc_client_id": "another-client"})
    with pytest.raises(oidc.OidcRefused):
        oidc.verify_id_token(other, provider, keys, token, nonce)
    unsigned = _b64({"alg": "none"}) + f".{payload}."
    check(unsigned)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(payload: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 3))
    return loaded


def _with_claim(payload: str, name: str, value: object) -> str:
    return _b64({**_claims(payload), name: value})


def _nonce(token: str) -> str:
    return str(_claims(token.split(".")[1])["nonce"])


async def test_the_login_page_offers_the_provider_and_logout_may_end_there(
    oidc_stack: OidcStack,
) -> None:
    async with httpx.AsyncClient(base_url=oidc_stack.base_url) as http:
        page = await http.get("/connexion", params={"suivant": "/mediation"})
    assert f'href="/connexion/oidc?suivant=%2Fmediation">{BUTTON}</a>' in page.text
    # Logging out (a form) ends at the provider: its origin is allowed as a form's target.
    policy = page.headers["content-security-policy"]
    assert f"form-action 'self' {oidc_stack.issuer};" in policy


async def test_without_an_issuer_there_is_no_provider_sign_in(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    assert not settings.oidc_enabled and oidc.issuer_origin(settings) is None
    app = create_app(settings, cast(Client, object()))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        page = await http.get("/connexion")
        assert BUTTON not in page.text
        assert "form-action 'self';" in page.headers["content-security-policy"]
        start = await http.get(oidc.START_PATH)
        assert start.status_code == 404
        assert "pas configurée" in start.text
    with pytest.raises(ValueError, match="PASSNUM_OIDC_CLIENT_ID"):
        Settings(oidc_issuer="https://proconnect.example")
