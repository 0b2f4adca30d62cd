"""In headless Chromium on a 360 px screen: the demo coordinator of the programme opens
"Exports et rapport", filters on a millésime, downloads the cheques as CSV and the
programme report as PDF; the files hold what the filter chose."""

from __future__ import annotations

import csv
import io
import re

from playwright.async_api import Page, expect
from pypdf import PdfReader
from sqlmodel import col, select

from bench.programme_rows import write_programme
from records import models
from records.db import make_engine
from records.seed import DEMO_PASSWORD
from tests.fixtures.api import DEMO_EMAILS, Stack
from tests.fixtures.browser import screenshot


async def test_coordinator_downloads_exports(page: Page, api_stack: Stack) -> None:
    engine = make_engine(str(api_stack.settings.database_url))
    try:
        write_programme(engine, 40, seed=5)
    finally:
        engine.dispose()
    with api_stack.sessions() as s:
        serials = {
            c.serial
            for c in s.exec(select(models.Cheque).where(col(models.Cheque.millesime) == 2025))
        }
    assert serials

    await page.goto("/")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_all"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/coordination$"))
    await page.get_by_role("link", name="Exports et rapport").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Exports et rapport du programme"
    )
    await page.get_by_label("Millésime du carnet").select_option("2025")
    await page.get_by_role("button", name="Filtrer").click()
    await expect(page.get_by_role("status").first).to_contain_text("carnets du millésime 2025")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="CSV (chèques)").click()
    download = await download_info.value
    assert re.fullmatch(r"cheques-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    path = await download.path()
    body = path.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert {row["Chèque"].replace("-", "") for row in rows} == serials
    assert {row["Millésime"] for row in rows} == {"2025"}

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Télécharger le rapport (PDF)").click()
    download = await download_info.value
    path = await download.path()
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert "Filtres : carnets du millésime 2025" in re.sub(r"\s+", " ", text)

    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width
    await screenshot(page, "coordination-exports")
