"""In headless Chromium on a 360 px screen: the demo social worker refers a person already
referred by their structure; the page warns, links the existing journey and asks to
confirm; once confirmed, the new journey goes on to its assessment."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Page, expect

from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}


async def test_possible_duplicate_warning_on_the_refer_page(page: Page, api_stack: Stack) -> None:
    stack = api_stack
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw"].reception_structure_id,
            "person": {"first_name": "Lucienne", "last_name": "Cabrol", "phone": "0565778899"},
            "consent": CONSENT,
        },
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    existing = r.json()["journey_id"]

    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.get_by_role("link", name="Orienter une personne").click()
    await expect(page.locator("#duplicate-warning")).to_have_count(0)
    await page.get_by_label("Prénom").fill("Lucienne")
    await page.locator("#f-person-last_name").fill("CABROL")
    await page.locator("#f-person-phone").fill("05.65.77.88.99")
    await page.get_by_role("radio", name="Téléphone").check()
    await page.get_by_label("La personne a lu ou entendu ce texte").check()
    await page.get_by_role("button", name="Enregistrer l'orientation").click()

    warning = page.locator("#duplicate-warning")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("Cette personne a peut-être déjà un parcours")
    await expect(warning).to_contain_text("même numéro de téléphone")
    link = warning.get_by_role("link", name="Lucienne Cabrol")
    await expect(link).to_have_attribute("href", f"/accompagnement/parcours/{existing}")
    await expect(page.locator(".error-summary")).to_contain_text(
        "Nouvelle orientation : Cette personne a peut-être"
    )
    await expect(page.get_by_label("Prénom")).to_have_value("Lucienne")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width
    await screenshot(page, "social-refer-duplicate")

    await page.get_by_label("Je confirme qu'il s'agit d'une nouvelle orientation").check()
    await page.get_by_role("button", name="Enregistrer l'orientation").click()
    await expect(page).to_have_url(
        re.compile(r"/accompagnement/parcours/[0-9a-f-]{36}/diagnostic$")
    )
    assert existing not in page.url
