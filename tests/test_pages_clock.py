"""The API and pages read one clock (`domain.clock.now()`), frozen per request when the app
has an instant (`app.state.clock_at`: `PASSNUM_CLOCK_AT` in dev, `Stack.freeze` in tests):
the pages turn the year at midnight in Paris, not in UTC, and production refuses a frozen
clock."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

import pytest
from pydantic import ValidationError

from api.app import create_app
from config import Settings
from tests.fixtures.api import Stack
from tests.fixtures.temporal import paris
from tests.test_pages_mediation import oriented_journey, signed_in

# One hour apart, both on 31 December in UTC: only Paris time tells them apart.
NEW_YEARS_EVE = paris(2030, 12, 31, 23, 30)
NEW_YEARS_DAY = paris(2031, 1, 1, 0, 30)


def pager(html: str) -> tuple[str, list[str]]:
    """The month a cheques page shows, and the months its pager links to."""
    heading = html.split("<h1>", 1)[1].split("</h1>", 1)[0]
    nav = html.split('class="pager no-print">', 1)[1].split("</nav>", 1)[0]
    return heading, [part.split('"', 1)[0] for part in nav.split("?mois=")[1:]]


async def test_the_cheques_of_the_month_turn_the_year_at_midnight_in_paris(
    api_stack: Stack,
) -> None:
    stack = api_stack
    assert NEW_YEARS_EVE.astimezone(UTC).date() == NEW_YEARS_DAY.astimezone(UTC).date()
    async with signed_in(stack) as http:
        stack.freeze(NEW_YEARS_EVE)
        r = await http.get("/mediation/cheques")
        assert r.status_code == 200, r.text
        # December, the month before; no month to come.
        assert pager(r.text) == ("Chèques encaissés en décembre 2030", ["2030-11"])
        # A month to come is not shown: back to this month.
        r = await http.get("/mediation/cheques", params={"mois": "2031-01"})
        assert pager(r.text) == ("Chèques encaissés en décembre 2030", ["2030-11"])

        stack.freeze(NEW_YEARS_DAY)
        r = await http.get("/mediation/cheques")
        assert pager(r.text) == ("Chèques encaissés en janvier 2031", ["2030-12"])
        r = await http.get("/mediation/cheques", params={"mois": "2030-12"})
        assert pager(r.text) == ("Chèques encaissés en décembre 2030", ["2030-11", "2031-01"])


async def test_the_session_form_proposes_the_paris_day(api_stack: Stack) -> None:
    stack = api_stack
    stack.freeze(stack.now)  # the journey's steps at the stack's own instant
    jid, _ = await oriented_journey(stack)
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/orientation/answer",
        json={"mediation_structure_id": stack.people["med"].mediation_structure_id, "accept": True},
        headers=stack.auth("med"),
    )
    assert r.status_code == 200, r.text
    async with signed_in(stack) as http:
        for instant, day in ((NEW_YEARS_EVE, "31/12/2030"), (NEW_YEARS_DAY, "01/01/2031")):
            stack.freeze(instant)  # only reading from here: the workflow is not asked
            r = await http.get(f"/mediation/parcours/{jid}/seance")
            assert r.status_code == 200, r.text
            assert re.search(r'name="day" type="text" value="([^"]*)"', r.text)[1] == day  # type: ignore[index]


def production(**settings: Any) -> Settings:
    return Settings(
        environment="production",
        secret_key="k" * 40,
        cheque_code_key="c" * 40,
        payload_key="p" * 40,
        **settings,
    )


def test_a_frozen_clock_is_for_dev_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="PASSNUM_CLOCK_AT ne sert qu'en développement"):
        production(clock_at=NEW_YEARS_EVE)
    monkeypatch.setenv("PASSNUM_CLOCK_AT", "2030-12-31T23:30:00+01:00")
    with pytest.raises(ValidationError, match="PASSNUM_CLOCK_AT ne sert qu'en développement"):
        production()
    # In dev it is the app's instant from the start; without an offset it is refused.
    assert create_app(Settings()).state.clock_at == NEW_YEARS_EVE
    monkeypatch.setenv("PASSNUM_CLOCK_AT", "2030-12-31T23:30:00")
    with pytest.raises(ValidationError, match="PASSNUM_CLOCK_AT doit préciser son fuseau"):
        Settings()
    monkeypatch.delenv("PASSNUM_CLOCK_AT")
    assert production().clock_at is None
    assert create_app(Settings()).state.clock_at is None
