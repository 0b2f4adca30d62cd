"""In headless Chromium on a 360 px screen: the demo social worker refers a person, assesses
their needs, hands over the booklet (the slip shows its 10 serials) and orients them to a
suggested mediation structure; the journey shows ORIENTED with its timeline."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot

SERIAL = re.compile(r"^\d{3}-\d{4}-\d{6}-\d{2}-\d$")
JOURNEY = re.compile(r"/accompagnement/parcours/[0-9a-f-]{36}")


async def fits(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, (page.url, width)


async def test_social_worker_refers_assesses_hands_over_and_orients(
    page: Page, api_stack: Stack
) -> None:
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes orientations")

    # Refer: a missing consent is refused next to its box, what was typed is kept.
    await page.get_by_role("link", name="Orienter une personne").click()
    await page.get_by_label("Prénom").fill("Josette")
    await page.locator("#f-person-last_name").fill("Vidal")
    await page.get_by_label("Année de naissance").fill("1948")
    await page.locator("#f-person-phone").fill("05 65 00 00 00")
    await page.get_by_label("Commune").fill("Rodez")
    await page.get_by_role("radio", name="Téléphone").check()
    await fits(page)
    await page.get_by_role("button", name="Enregistrer l'orientation").click()
    await expect(page.locator("#f-consent-error")).to_contain_text("consentement")
    await expect(page.get_by_label("Prénom")).to_have_value("Josette")
    await screenshot(page, "social-refer-refused")
    await page.get_by_label("La personne a lu ou entendu ce texte").check()
    await page.get_by_role("button", name="Enregistrer l'orientation").click()

    # Needs assessment.
    await expect(page).to_have_url(re.compile(JOURNEY.pattern + "/diagnostic$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Josette Vidal")
    await page.get_by_role("radio", name="ABC Diag").check()
    await page.get_by_role("radio", name="Débutant").check()
    await page.get_by_role("checkbox", name="Messagerie électronique").check()
    await page.get_by_role("checkbox", name="Santé en ligne").check()
    await fits(page)
    await page.get_by_role("button", name="Enregistrer le diagnostic").click()

    # Booklet, then its slip with the 10 serials.
    await expect(page).to_have_url(re.compile(JOURNEY.pattern + "/carnet$"))
    await page.get_by_role("button", name="Remettre le carnet").click()
    await expect(page).to_have_url(re.compile(JOURNEY.pattern + "/bordereau$"))
    serials = page.locator(".slip-serials .serial")
    await expect(serials).to_have_count(10)
    for text in await serials.all_inner_texts():
        assert SERIAL.match(text), text
    await fits(page)
    await screenshot(page, "social-slip")

    # Orient to the first suggestion (the journey's EPCI first, with why).
    await page.get_by_role("link", name="Choisir une structure de médiation").click()
    first = page.locator(".suggestion").first
    await expect(first).to_contain_text("Située dans Rodez Agglomération")
    await expect(first).to_contain_text("Couvre 2 besoins sur 2")
    chosen = (await first.locator("label strong").inner_text()).strip()
    await screenshot(page, "social-orient")
    await first.get_by_role("radio").check()
    await fits(page)
    await page.get_by_role("button", name="Orienter vers cette structure").click()

    # The journey: ORIENTED, with its timeline (who, when, why).
    await expect(page).to_have_url(re.compile(JOURNEY.pattern + "$"))
    await expect(page.locator(".stage-line")).to_contain_text("Orientation en attente")
    entries = page.locator(".timeline > li")
    await expect(entries).to_have_count(4)
    await expect(entries.last).to_contain_text("Orientation vers une structure de médiation")
    await expect(entries.last).to_contain_text(f"Structure : {chosen}")
    await expect(entries.last.locator(".who")).to_contain_text("(Travailleur social)")
    await expect(entries.last.locator(".when")).to_have_text(
        re.compile(r"^\d{2}/\d{2}/\d{4} à \d{2}:\d{2}$")
    )
    await fits(page)
    await screenshot(page, "social-journey")
    await page.set_viewport_size({"width": 1280, "height": 800})  # an old laptop
    await screenshot(page, "social-journey-desktop")
    await page.goto("/accompagnement")
    await screenshot(page, "social-home-desktop")
    await page.goto("/accompagnement/orienter")
    await screenshot(page, "social-refer-desktop")
