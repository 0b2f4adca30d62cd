"""In headless Chromium on a 360 px screen: the demo social worker declares a booklet
stolen from the journey page and lands on the replacement's slip to print."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Page, expect

from domain.serials import parse_serial
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot
from tests.test_api_journey_http import to_training
from tests.test_browser_social import fits


async def test_social_worker_replaces_a_stolen_booklet(page: Page, api_stack: Stack) -> None:
    stack = api_stack
    mine = stack.people["med"].mediation_structure_id
    assert mine is not None
    journey = await to_training(stack, str(uuid.uuid4()), mine)
    jid, first = journey["journey_id"], journey["booklet_number"]

    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.goto(f"/accompagnement/parcours/{jid}")
    await page.get_by_role("link", name="Carnet perdu, volé ou abîmé ?").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Carnet perdu")
    await page.get_by_role("radio", name="Volé").check()
    await fits(page)
    await screenshot(page, "social-lost-booklet")
    await page.get_by_role("button", name="Annuler ce carnet et le remplacer").click()

    await expect(page).to_have_url(re.compile(f"/accompagnement/parcours/{jid}/bordereau$"))
    await expect(page.get_by_role("status")).to_contain_text(
        f"le carnet n° {first} a été déclaré volé"
    )
    serials = page.locator(".slip-serials .serial")
    await expect(serials).to_have_count(10)
    numbers = {parse_serial(x).booklet_number for x in await serials.all_inner_texts()}
    assert len(numbers) == 1 and first not in numbers
    await fits(page)
    await screenshot(page, "social-lost-booklet-slip")
