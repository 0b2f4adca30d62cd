"""In headless Chromium, with the keyboard alone on a 360 px screen: each demo account logs
in and lands on its role's space."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS
from tests.fixtures.browser import screenshot

LANDINGS = {
    "sw": ("/accompagnement", "Mes orientations"),
    "med": ("/mediation", "Espace médiation"),
    "coord_epci": ("/coordination", "Coordination du programme"),
    "coord_all": ("/coordination", "Coordination du programme"),
    "admin": ("/administration", "Administration"),
}


async def test_each_demo_role_logs_in_and_lands_on_its_space(page: Page) -> None:
    for who, (path, title) in LANDINGS.items():
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/connexion$"))
        # Keyboard only: the skip link comes first, then the labelled fields.
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Aller au contenu")).to_be_focused()
        await page.get_by_label("Adresse e-mail").focus()
        await page.keyboard.type(DEMO_EMAILS[who])
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Mot de passe")).to_be_focused()
        await page.keyboard.type(DEMO_PASSWORD)
        await page.keyboard.press("Enter")

        await expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        # Nothing wider than the screen.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (who, width)
        await screenshot(page, f"login-{who}")
        await page.get_by_role("button", name="Se déconnecter").click()
        await expect(page).to_have_url(re.compile(r"/connexion$"))


async def test_a_wrong_password_is_explained_next_to_the_form(page: Page) -> None:
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["sw"])
    await page.get_by_label("Mot de passe").fill("pas-le-bon")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Adresse e-mail ou mot de passe incorrect."
    )
    await expect(page.get_by_label("Adresse e-mail")).to_have_value(DEMO_EMAILS["sw"])
    await screenshot(page, "login-refused")
