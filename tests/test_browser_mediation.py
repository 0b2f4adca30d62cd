"""In headless Chromium on a 360 px screen: the demo mediator accepts an orientation, logs a
session with two cheques typed then Enter (as a barcode scanner does), sees them accepted,
then sees the precise refusal of a cheque already taken. Once with the page's script, once
without JavaScript (Enter then submits the form's "Ajouter" button)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from domain.serials import parse_serial
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import SMALL_SCREEN, screenshot
from tests.test_pages_mediation import oriented_journey, today_fr


async def log_in(page: Page) -> None:
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["med"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_label("Mot de passe").press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Espace médiation")


def barcodes(stack: Stack, serials: list[str]) -> list[str]:
    """What the slip's barcodes carry: each serial's 16 digits, then its code."""
    return [s + c.replace("-", "") for s, c in zip(serials, stack.codes(serials), strict=True)]


async def scan(page: Page, serial: str) -> None:
    """Type a cheque's barcode and press Enter, as a barcode scanner does."""
    field = page.get_by_label("Numéro et code de sécurité du chèque")
    await expect(field).to_be_focused()
    await page.keyboard.type(serial)
    await page.keyboard.press("Enter")


async def accept_and_log_two_cheques(page: Page, serials: list[str], *, script: bool) -> None:
    await page.get_by_role("link", name="Orientations à traiter").click()
    await expect(page.get_by_role("heading", name="Josette")).to_be_visible()
    await page.get_by_role("button", name="Accepter l'orientation de Josette").click()
    await expect(page.get_by_role("status")).to_contain_text("Orientation acceptée")
    await page.get_by_role("link", name="Enregistrer une séance pour Josette").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer une séance")

    verdicts = page.locator("#verdicts li")
    if script:
        await page.evaluate("window.notReloaded = true")
    for n, serial in enumerate(serials[:2], start=1):
        await scan(page, serial)
        await expect(verdicts).to_have_count(n)
        await expect(verdicts.nth(n - 1)).to_contain_text(parse_serial(serial[:16]).display)
        await expect(verdicts.nth(n - 1)).to_contain_text("Accepté")
    if script:  # the verdicts came without reloading the page
        assert await page.evaluate("window.notReloaded === true")
    await expect(
        page.get_by_label("Chèques de la séance (un par ligne : numéro puis code)")
    ).to_have_value("\n".join(serials[:2]))
    await page.get_by_label("Durée en minutes").fill("90")
    await page.get_by_role("button", name="Enregistrer la séance").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Séance enregistrée")
    accepted = page.locator(".verdicts li")
    await expect(accepted).to_have_count(2)
    for serial in serials[:2]:
        await expect(page.locator(".verdicts")).to_contain_text(parse_serial(serial[:16]).display)
    await expect(accepted.filter(has_text="Accepté")).to_have_count(2)


async def already_taken_is_refused(page: Page, stack: Stack, serial: str) -> None:
    await page.get_by_role("link", name="Enregistrer une autre séance").click()
    await scan(page, serial)
    taken_on = today_fr(stack)  # the form's day (the frozen page clock's)
    refusal = f"Le chèque {parse_serial(serial[:16]).display} a déjà été encaissé le {taken_on}."
    await expect(page.locator("#verdicts li")).to_contain_text("Refusé")
    await expect(page.locator("#verdicts li")).to_contain_text(refusal)
    # Submitting anyway: the refusal next to the cheques, nothing recorded.
    await page.get_by_label("Durée en minutes").fill("60")
    await page.get_by_role("button", name="Enregistrer la séance").click()
    await expect(page.get_by_role("alert")).to_contain_text(refusal)
    await expect(page.get_by_label("Durée en minutes")).to_have_value("60")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= SMALL_SCREEN["width"], width


async def test_mediator_accepts_logs_two_cheques_and_sees_a_precise_refusal(
    page: Page, api_stack: Stack
) -> None:
    api_stack.freeze(api_stack.now)
    _, serials = await oriented_journey(api_stack, "Josette")
    serials = barcodes(api_stack, serials)
    await log_in(page)
    await accept_and_log_two_cheques(page, serials, script=True)
    await already_taken_is_refused(page, api_stack, serials[0])
    await screenshot(page, "mediation-session-refused")


@pytest_asyncio.fixture
async def page_without_js(browser: Browser, api_stack: Stack) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=api_stack.base_url,
        viewport={"width": SMALL_SCREEN["width"], "height": SMALL_SCREEN["height"]},
        locale="fr-FR",
        java_script_enabled=False,
    )
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_the_same_without_javascript(page_without_js: Page, api_stack: Stack) -> None:
    page = page_without_js
    api_stack.freeze(api_stack.now)
    _, serials = await oriented_journey(api_stack, "Josette")
    serials = barcodes(api_stack, serials)
    await log_in(page)
    await accept_and_log_two_cheques(page, serials, script=False)
    await already_taken_is_refused(page, api_stack, serials[1])
    await expect(page).to_have_url(re.compile(r"/seance$"))
    await screenshot(page, "mediation-session-refused-nojs")
