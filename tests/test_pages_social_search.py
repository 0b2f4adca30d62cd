"""The social worker finds a person by name on their home page: a part of the first or last
name, any case; only journeys of their own structure; wildcards typed are plain text."""

from __future__ import annotations

import uuid

from tests.fixtures.api import Stack
from tests.test_pages_social import refer, signed_in


async def test_search_by_name_within_my_structure(api_stack: Stack) -> None:
    mine = await signed_in(api_stack, "sw")
    other = await signed_in(api_stack, "sw_other")
    try:
        tag = uuid.uuid4().hex[:6]  # the stack is shared: names unique to this test
        jid = await refer(api_stack, mine, **{"person.last_name": f"Cazals{tag}"})
        await refer(api_stack, mine, **{"person.last_name": f"Bru{tag}"})
        theirs = await refer(api_stack, other, **{"person.last_name": f"Cazals{tag}x"})

        page = await mine.get("/accompagnement", params={"nom": f"cazals{tag.upper()}"})
        assert page.status_code == 200
        assert f"/accompagnement/parcours/{jid}" in page.text
        assert f"Bru{tag}" not in page.text and theirs not in page.text
        assert f"1 parcours pour « cazals{tag.upper()} »" in page.text
        assert f'value="cazals{tag.upper()}"' in page.text  # kept in the field

        both = await mine.get("/accompagnement", params={"nom": f"Josette {'Cazals' + tag}"})
        assert f"/accompagnement/parcours/{jid}" in both.text

        wild = await mine.get("/accompagnement", params={"nom": "%"})
        assert "0 parcours pour « % »" in wild.text
    finally:
        await mine.aclose()
        await other.aclose()
