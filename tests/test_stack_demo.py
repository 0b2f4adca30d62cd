"""`passnum up --demo` as a newcomer runs it: the embedded stack fills its programme with
simulated journeys through the real API and engine, and the pages show them (Chromium);
started again with `--demo`, it adds none."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from records.seed import DEMO_PASSWORD, EMAIL_DOMAIN
from tests.fixtures.browser import SMALL_SCREEN, screenshot
from tests.test_stack_up import Up, login, up  # noqa: F401 (`up`: the fixture)

pytestmark = pytest.mark.devserver

JOURNEYS = 30
DEMO_TIMEOUT_S = 240.0


@pytest.fixture
def demo(up: Up) -> Iterator[Up]:  # noqa: F811
    up.args = ("--demo", str(JOURNEYS))
    yield up


def wait_for(stack: Up, text: str) -> None:
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    while text not in stack.printed():
        assert stack.process is not None and stack.process.poll() is None, stack.output()
        assert time.monotonic() < deadline, f"no « {text} » in:\n{stack.output()}"
        time.sleep(0.5)


def overview(stack: Up) -> dict[str, int]:
    with httpx.Client(base_url=stack.api, timeout=30) as http:
        login(http, f"coordination@{EMAIL_DOMAIN}")
        r = http.get("/api/v1/reports/overview")
        assert r.status_code == 200, r.text
        found: dict[str, int] = r.json()
        return found


async def test_the_demo_fills_the_pages(demo: Up, browser: Browser) -> None:
    demo.start()
    demo.wait_ready()
    wait_for(demo, "Démonstration prête")
    ready = re.search(
        rf"Démonstration prête : {JOURNEYS} parcours \(.*, dont (\d+) bloqués", demo.printed()
    )
    assert ready, demo.output()
    figures = overview(demo)
    assert figures["journeys"] == JOURNEYS, figures
    assert figures["cheques_issued"] > 0 and figures["cheques_redeemed"] > 0, figures
    stalled = int(ready[1])
    assert stalled > 0

    context = await browser.new_context(base_url=demo.api, viewport=SMALL_SCREEN, locale="fr-FR")
    context.set_default_timeout(15_000)
    try:
        page = await context.new_page()

        async def sign_in(who: str) -> None:
            await context.clear_cookies()
            await page.goto("/connexion")
            await page.get_by_label("Adresse e-mail").fill(f"{who}@{EMAIL_DOMAIN}")
            await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
            await page.get_by_role("button", name="Se connecter").click()

        await sign_in("coordination")
        await expect(page).to_have_url(re.compile(r"/coordination$"))
        await page.goto("/coordination/bloques")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Parcours bloqués")
        await expect(page.locator("table.responsive tbody tr")).to_have_count(stalled)
        await screenshot(page, "demo-stalled")

        await sign_in("mediateur")
        await page.goto("/mediation/beneficiaires")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Mes bénéficiaires")
        assert await page.locator("table.trainees tbody tr").count() > 0
        await screenshot(page, "demo-trainees")

        await sign_in("admin")
        await page.goto("/administration/courriels")
        assert await page.locator("table tbody tr").count() > 0  # the mails the demo sent
    finally:
        await context.close()

    # Started again with --demo: the journeys are there, none is added.
    assert demo.stop() == 0
    demo.start()
    demo.wait_ready()
    wait_for(demo, "rien n'est ajouté")
    assert overview(demo)["journeys"] == JOURNEYS


def test_the_demo_is_refused_outside_dev_mode(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {
        "PASSNUM_ENVIRONMENT": "production",
        "PASSNUM_DATA_DIR": str(tmp_path),
        **{f"PASSNUM_{key}": "x" * 40 for key in ("SECRET_KEY", "CHEQUE_CODE_KEY", "PAYLOAD_KEY")},
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "passnum"), "up", "--demo"],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--demo n'existe qu'en mode dev" in done.stderr, done.stderr
