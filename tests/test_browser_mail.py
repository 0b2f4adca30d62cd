"""In headless Chromium on a 360 px screen, keyboard and mouse: the demo social worker refers
a person without e-mail, finds the letter to print on the journey page and opens it; then
mutes a category of notifications from the header's link and folds reminders into the
digest."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot


async def fits(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, (page.url, width)


async def test_letter_to_print_and_notification_preferences(page: Page, api_stack: Stack) -> None:
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.get_by_role("link", name="Orienter une personne").click()
    await page.get_by_label("Prénom").fill("Germaine")
    await page.locator("#f-person-last_name").fill("Cabrol")
    await page.get_by_label("Commune").fill("Onet-le-Château")
    await page.get_by_role("radio", name="Courrier").check()
    await page.get_by_label("La personne a lu ou entendu ce texte").check()
    await page.get_by_role("button", name="Enregistrer l'orientation").click()
    await expect(page).to_have_url(re.compile(r"/diagnostic$"))
    journey = page.url.removesuffix("/diagnostic")

    # The letter is there once the worker has mailed the referral (in the background).
    await page.goto(journey)
    letter = page.get_by_role("link", name=re.compile("Inscription au Pass numérique : lettre"))
    for _ in range(50):
        if await letter.count():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    await expect(page.get_by_role("heading", name="Lettres à imprimer")).to_be_visible()
    await expect(page.get_by_text("n'a pas d'adresse e-mail")).to_be_visible()
    await page.get_by_text("Tous les envois").click()  # a <details>
    await expect(page.get_by_text("à transmettre à la personne").first).to_be_visible()
    await fits(page)
    await screenshot(page, "mail-journey-block")
    await letter.click()
    await expect(page.get_by_text("Objet : Votre inscription au Pass numérique")).to_be_visible()
    await expect(page.get_by_text("Germaine Cabrol").first).to_be_visible()
    await screenshot(page, "mail-letter")

    # Preferences, reached from the header with the keyboard.
    await page.go_back()
    await page.get_by_role("link", name="Mes notifications").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mes notifications")
    await page.get_by_role("checkbox", name=re.compile("Parcours clôturés")).uncheck()
    await page.get_by_role("radio", name=re.compile("Dans le récapitulatif quotidien")).check()
    await fits(page)
    await page.get_by_role("button", name="Enregistrer mes préférences").press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("préférences de notification")
    await expect(
        page.get_by_role("checkbox", name=re.compile("Parcours clôturés"))
    ).not_to_be_checked()
    await expect(page.get_by_role("checkbox", name=re.compile("Rappels"))).to_be_checked()
    await expect(
        page.get_by_role("radio", name=re.compile("Dans le récapitulatif quotidien"))
    ).to_be_checked()
    await expect(page.get_by_text("ne peuvent pas être désactivés")).to_be_visible()
    await fits(page)
    await screenshot(page, "mail-preferences")

    # The same pages on a laptop.
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "mail-preferences-desktop")
    await page.goto(journey)
    await page.get_by_text("Tous les envois").click()
    await screenshot(page, "mail-journey-block-desktop")
