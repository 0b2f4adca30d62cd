"""In dev mode the login page says where the demo accounts are; a refused login says it too."""

from __future__ import annotations

import httpx

from tests.fixtures.api import Stack, csrf_from


async def test_login_page_points_to_the_demo_accounts_in_dev_mode(api_stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30) as client:
        page = await client.get("/connexion")
        assert "Mode démonstration" in page.text and "passnum-demo" in page.text
        refused = await client.post(
            "/connexion",
            data={"csrf_token": csrf_from(page.text), "email": "x@example.org", "password": "non"},
        )
        assert refused.status_code in (401, 422) and "Mode démonstration" in refused.text
