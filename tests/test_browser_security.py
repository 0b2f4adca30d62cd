"""In headless Chromium: the main pages of every role work under passnum's security headers
with no Content-Security-Policy violation (console messages and `securitypolicyviolation`
events of every frame are collected); the booklet slip prints through its static script;
the sink's mail renders, with its inline styles, in its sandboxed frame; the API
documentation's own policy lets Swagger UI and ReDoc start (their CDN answered here by
stand-ins, the machine being offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from notifications.sender import Outgoing, build_mime
from notifications.sink import store_mail
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import SMALL_SCREEN, screenshot, watch_policy_messages
from tests.test_pages_mediation import oriented_journey

# window.print() would open a dialog: count the calls instead.
COUNT_PRINTS = "window.print = function () { window.printed = (window.printed || 0) + 1; };"
MAIL = Outgoing(
    message_id="<csp@passnum.test>",
    sender="Pass numérique <ne-pas-repondre@passnum.test>",
    to="lea.martin@ccas.example",
    subject="Orientation enregistrée : Marie Dupont",
    text="Bonjour Léa,\n\nL'orientation est enregistrée.\n",
    html='<p style="color:#000091;margin:0 0 12px;">Bonjour Léa,</p>'
    "<p>L'orientation est <strong>enregistrée</strong>.</p>",
)


@pytest_asyncio.fixture
async def context(browser: Browser, api_stack: Stack) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        base_url=api_stack.base_url, viewport=SMALL_SCREEN, locale="fr-FR"
    )
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        await context.close()


async def sign_in(page: Page, who: str) -> None:
    await page.context.clear_cookies()
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS[who])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


async def visit(page: Page, path: str, status: int = 200) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == status, (path, response)
    await page.wait_for_load_state("load")


async def test_every_role_s_main_pages_run_without_a_policy_violation(
    context: BrowserContext, api_stack: Stack
) -> None:
    violations = await watch_policy_messages(context)
    await context.add_init_script(COUNT_PRINTS)
    jid, _ = await oriented_journey(api_stack)
    with api_stack.sessions() as session:
        mail = store_mail(
            session, build_mime(MAIL).as_bytes(), mail_from=MAIL.sender, recipients=[MAIL.to]
        )
        session.commit()
        mail_id = mail.id
    page = await context.new_page()

    await visit(page, "/connexion")
    await visit(page, "/nulle-part", 404)

    await sign_in(page, "sw")
    for path in ("/accompagnement", "/accompagnement/orienter", f"/accompagnement/parcours/{jid}"):
        await visit(page, path)
    await visit(page, f"/accompagnement/parcours/{jid}/bordereau")
    await page.get_by_role("button", name="Imprimer").click()
    assert await page.evaluate("window.printed") == 1  # print.js, not an inline onclick
    await visit(page, "/compte/notifications")
    await visit(page, "/coordination", 403)

    await sign_in(page, "med")
    for path in ("/mediation", "/mediation/orientations", "/mediation/beneficiaires"):
        await visit(page, path)
    for path in ("/mediation/cheques", "/mediation/cheque", f"/mediation/parcours/{jid}/refuser"):
        await visit(page, path)

    await sign_in(page, "coord_all")
    for path in ("/coordination", "/coordination/bloques", "/coordination/cheques"):
        await visit(page, path)
    for path in (f"/coordination/parcours/{jid}", f"/coordination/parcours/{jid}/sortie"):
        await visit(page, path)

    await sign_in(page, "admin")
    for path in ("/administration", "/administration/structures", "/administration/comptes"):
        await visit(page, path)
    await visit(page, "/administration/comptes/nouveau")
    await visit(page, f"/administration/comptes/{api_stack.people['sw'].id}")
    await visit(page, "/administration/courriels")
    await visit(page, f"/administration/courriels/{mail_id}")
    # The mail's HTML, with its own inline styles, inside its sandboxed frame.
    greeting = page.frame_locator("iframe.mail-frame").get_by_text("Bonjour Léa,")
    await expect(greeting).to_have_css("color", "rgb(0, 0, 145)")
    await expect(page.locator("pre.mail-text")).to_have_css("white-space", "pre-wrap")
    await screenshot(page, "security-mail")
    assert violations == []

    # The watch does see a violation when there is one: an inline style attribute added
    # to the page is refused and reported.
    await page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<p style=\"color: red\">injecté</p>')"
    )
    for _ in range(50):
        if violations:
            break
        await page.wait_for_timeout(100)
    assert any("style-src" in v for v in violations), violations


SWAGGER_STAND_IN = """
window.SwaggerUIBundle = function (config) {
  document.getElementById("swagger-ui").textContent = "Swagger UI lit " + config.url;
};
window.SwaggerUIBundle.presets = { apis: {} };
window.SwaggerUIBundle.SwaggerUIStandalonePreset = {};
"""
REDOC_STAND_IN = 'document.querySelector("redoc").textContent = "ReDoc lit " +'
REDOC_STAND_IN += ' document.querySelector("redoc").getAttribute("spec-url");'


async def cdn(route: Route) -> None:
    url = route.request.url
    if url.endswith("swagger-ui-bundle.js"):
        await route.fulfill(body=SWAGGER_STAND_IN, content_type="text/javascript")
    elif url.endswith("redoc.standalone.js"):
        await route.fulfill(body=REDOC_STAND_IN, content_type="text/javascript")
    elif url.endswith(".css") or "fonts.googleapis.com" in url:
        await route.fulfill(body="", content_type="text/css")
    else:
        await route.fulfill(status=404, body="")


async def test_the_api_documentation_starts_under_its_own_policy(
    context: BrowserContext,
) -> None:
    violations = await watch_policy_messages(context)
    for host in ("https://cdn.jsdelivr.net/**", "https://fonts.googleapis.com/**"):
        await context.route(host, cdn)
    await context.route("https://fastapi.tiangolo.com/**", cdn)
    page = await context.new_page()
    await visit(page, "/docs")
    # Its inline script ran (allowed by its hash) and called the CDN's script.
    await expect(page.locator("#swagger-ui")).to_have_text("Swagger UI lit /openapi.json")
    await visit(page, "/redoc")
    await expect(page.locator("redoc")).to_have_text("ReDoc lit /openapi.json")
    assert violations == []
