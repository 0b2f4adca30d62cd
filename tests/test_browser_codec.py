"""In headless Chromium: the Temporal UI's origin decodes a history's payloads through
passnum's codec endpoint with the coordinator's session cookie, as the UI does with
"Include cross-origin credentials"; another origin cannot read the answer, and without
the cookie the endpoint says 401.

The Temporal UI itself is stood in for by a page served from loopback on a port of its own
(`PASSNUM_TEMPORAL_UI_ORIGINS` names it, as it would name the real UI's origin): what is
checked is the browser's side (CORS with credentials, the same-site session cookie, the
security headers, Chromium's local network access rules), the same for the real UI.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page

from records.seed import DEMO_PASSWORD
from temporal_client import ENCRYPTED_ENCODING
from tests.fixtures.api import DEMO_EMAILS, Stack, refer_over_api
from tests.fixtures.browser import screenshot

PAGE = b"<!doctype html><html lang=fr><title>Temporal UI</title><h1>Temporal UI</h1></html>"
FETCH = """async ([url, body, credentials]) => {
  try {
    const r = await fetch(url, {method: "POST", credentials, body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "X-Namespace": "default"}});
    return {status: r.status, body: await r.json()};
  } catch (e) { return {status: 0, error: String(e)}; }
}"""


async def serve_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Any GET: the stand-in page."""
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(PAGE), PAGE)
    )
    await writer.drain()
    writer.close()


async def origin() -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(serve_page, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(loop_scope="session")
async def origins(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, str]]:
    """The stand-in UI's origin (allowed, before the stack reads its settings) and
    another one."""
    ui_server, ui = await origin()
    other_server, other = await origin()
    monkeypatch.setenv("PASSNUM_TEMPORAL_UI_ORIGINS", ui)
    try:
        yield ui, other
    finally:
        for server in (ui_server, other_server):
            server.close()
            await server.wait_closed()


async def test_the_ui_origin_decodes_with_the_session_cookie(  # type: ignore[no-untyped-def]
    origins: tuple[str, str], page: Page, api_stack, dev_server
) -> None:
    ui, elsewhere = origins
    stack: Stack = api_stack
    jid = await refer_over_api(
        stack, {"first_name": "Ninon", "last_name": "Navigateur"}, {"given": True, "text": "Oui."}
    )
    history = await dev_server.client.get_workflow_handle(f"journey-{jid}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads
    assert payload.metadata["encoding"] == ENCRYPTED_ENCODING
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                "data": base64.b64encode(payload.data).decode(),
            }
        ]
    }
    codec = f"{stack.base_url}/api/v1/temporal-codec/decode"

    # The programme coordinator signs in to passnum in this browser.
    await page.goto("/connexion")
    await page.get_by_label("Adresse e-mail").fill(DEMO_EMAILS["coord_all"])
    await page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url("**/coordination")

    await page.goto(f"{ui}/namespaces/default/workflows")
    answer: dict[str, Any] = await page.evaluate(FETCH, [codec, body, "include"])
    assert answer["status"] == 200, answer
    (decoded,) = answer["body"]["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    assert jid in base64.b64decode(decoded["data"]).decode()
    # Without the cookie (the UI's setting off): 401, readable by the UI.
    answer = await page.evaluate(FETCH, [codec, body, "omit"])
    assert answer["status"] == 401
    await screenshot(page, "codec-ui-origin")

    # Another origin: the browser withholds the answer.
    await page.goto(f"{elsewhere}/")
    answer = await page.evaluate(FETCH, [codec, body, "include"])
    assert answer["status"] == 0 and "Failed to fetch" in answer["error"]
