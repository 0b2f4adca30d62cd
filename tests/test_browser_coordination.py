"""In headless Chromium on a 360 px screen: the demo coordinator finds a stalled journey in
the stalled list and re-orients it to another mediation structure; the journey then shows
an orientation waiting for that structure."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from domain.stages import Stage
from records import models
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot
from tests.fixtures.stalled import stalled_journey, wait_recorded


async def test_coordinator_reorients_a_stalled_journey(
    page: Page, api_stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    jid = await stalled_journey(api_stack, dev_server.client, last_name="Bousquet")
    target = api_stack.people["med_other"].mediation_structure_id
    with api_stack.sessions() as s:
        name = s.exec(
            select(models.MediationStructure.name).where(models.MediationStructure.id == target)
        ).one()

    await page.goto("/")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_epci"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/coordination$"))

    await page.get_by_role("link", name=re.compile("bloqué")).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Parcours bloqués")
    await page.get_by_role("link", name="Lucienne Bousquet").click()
    await expect(page.locator(".summary-list")).to_contain_text("Aucune orientation ni séance")
    await page.get_by_role("link", name="Réorienter").click()

    await page.get_by_label(re.compile(re.escape(name))).check()
    await page.get_by_label("Motif de la réorientation").fill("Ateliers smartphone plus proches")
    await page.get_by_role("button", name="Réorienter le parcours").click()

    await expect(page.get_by_role("status")).to_contain_text("Le parcours est réorienté")
    summary = page.locator(".summary-list")
    await expect(summary).to_contain_text("Orientation en attente")
    await expect(summary).to_contain_text(name)
    row = await wait_recorded(api_stack, jid, lambda r: r.orientation_structure_id == target)
    assert row.stage == Stage.ORIENTED and row.orientation_status == "PENDING"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width
    await screenshot(page, "coordination-reoriented")
