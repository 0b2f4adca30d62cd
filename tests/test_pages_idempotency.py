"""The pages over real HTTP, logged in: a form sent again with other values (the same form
UUID, used as the Update's idempotency key) is refused with a French message and changes
nothing; a form refused by the journey may be sent again once the journey allows it."""

from __future__ import annotations

from typing import Any

import httpx

from api.errors import FORM_REUSED_MESSAGE
from records import models
from tests.fixtures.api import Stack, refer_over_api, train_over_api
from tests.fixtures.database import count
from tests.test_pages_social import fill, hidden, journey_id_of, person, signed_in

SHOWN = FORM_REUSED_MESSAGE.replace("'", "&#39;")
CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}


def timeline(stack: Stack, journey_id: str) -> int:
    return count(
        stack.sessions, models.TransitionLog, models.TransitionLog.journey_id == journey_id
    )


def refused_as_reused(r: httpx.Response) -> None:
    assert r.status_code == 409, r.text
    assert SHOWN in r.text, r.text[r.text.find("<main") :][:2000]


async def accepted_then_reused(
    stack: Stack,
    http: httpx.AsyncClient,
    jid: str,
    path: str,
    first: dict[str, Any],
    again: dict[str, Any],
) -> tuple[int, httpx.Response]:
    """`first` posted to `path` is accepted; the same form sent `again` (other values) is
    refused as reused and changes nothing. The journey's timeline, and the refusal."""
    r = await http.post(path, data=first)
    assert r.status_code == 303, r.text
    logged = timeline(stack, jid)
    r = await http.post(path, data=again)
    refused_as_reused(r)
    assert timeline(stack, jid) == logged
    return logged, r


async def form(client: httpx.AsyncClient, path: str) -> dict[str, str]:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return hidden(page.text)


async def test_social_worker_forms_sent_again_with_other_values(api_stack: Stack) -> None:
    stack = api_stack
    sw = await signed_in(stack, "sw")
    try:
        who = person(**{"person.first_name": "Agnès", "person.last_name": "Bousquet"})
        fields = await form(sw, "/accompagnement/orienter")
        r = await sw.post("/accompagnement/orienter", data={**fields, **who})
        assert r.status_code == 303, r.text
        jid = journey_id_of(r)
        base = f"/accompagnement/parcours/{jid}"
        # The referral form again, with another phone: refused, nobody added.
        r = await sw.post(
            "/accompagnement/orienter",
            data={**fields, **who, "person.phone": "06 99 99 99 99"},
        )
        refused_as_reused(r)
        assert count(stack.sessions, models.Beneficiary) == 1

        # The booklet before the assessment: refused by the journey (kept for later).
        booklet = await form(sw, f"{base}/carnet")
        r = await sw.post(f"{base}/carnet", data=booklet)
        assert r.status_code == 409 and "après le diagnostic" in r.text, r.text

        # The assessment, then its form again with other needs.
        assessment = await form(sw, f"{base}/diagnostic")
        values = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}
        logged, r = await accepted_then_reused(
            stack,
            sw,
            jid,
            f"{base}/diagnostic",
            {**assessment, **values},
            {**assessment, **values, "needs": ["HEALTH"]},
        )
        assert "Santé en ligne" in r.text  # what was typed is kept
        r = await sw.post(f"{base}/diagnostic", data={**assessment, **values})  # a double submit
        assert r.status_code == 303 and timeline(stack, jid) == logged

        # The booklet form refused earlier goes through now (its key was given back).
        r = await sw.post(f"{base}/carnet", data=booklet)
        assert r.status_code == 303 and r.headers["location"] == f"{base}/bordereau", r.text

        # Orientation, then its form again with another structure.
        med = stack.people["med"].mediation_structure_id
        other = stack.people["med_other"].mediation_structure_id
        orientation = await form(sw, f"{base}/mediation")
        await accepted_then_reused(
            stack,
            sw,
            jid,
            f"{base}/mediation",
            {**orientation, "mediation_structure_id": med},
            {**orientation, "mediation_structure_id": other},
        )
    finally:
        await sw.aclose()


async def in_training(stack: Stack) -> str:
    """A journey of the demo social worker trained by the demo mediator (JSON API)."""
    med = stack.people["med"].mediation_structure_id
    jid = await refer_over_api(stack, {"first_name": "Lucien", "last_name": "Bessière"}, CONSENT)
    await train_over_api(stack, jid, med, {"tool": "PIX", "autonomy": "NONE", "needs": ["EMAIL"]})
    return jid


async def test_mediator_and_coordinator_forms_sent_again_with_other_values(
    api_stack: Stack,
) -> None:
    stack = api_stack
    jid = await in_training(stack)
    med = await signed_in(stack, "med")
    coord = await signed_in(stack, "coord_epci")
    try:
        # The mediator's exit assessment.
        path = f"/mediation/parcours/{jid}/diagnostic-sortie"
        exit_form = await form(med, path)
        await accepted_then_reused(
            stack,
            med,
            jid,
            path,
            {**exit_form, "tool": "PIX", "autonomy": "INTERMEDIATE"},
            {**exit_form, "tool": "PIX", "autonomy": "AUTONOMOUS"},
        )

        # The coordinator's nudge (on the journey page), re-orientation and withdrawal.
        base = f"/coordination/parcours/{jid}"
        nudge = await form(coord, base)
        await accepted_then_reused(
            stack,
            coord,
            jid,
            f"{base}/relance",
            {**nudge, "message": "Où en est-on ?"},
            {**nudge, "message": "Autre chose"},
        )

        other = stack.people["med_other"].mediation_structure_id
        reorient = await form(coord, f"{base}/reorienter")
        values = {"mediation_structure_id": str(other), "reason": "Plus proche"}
        await accepted_then_reused(
            stack,
            coord,
            jid,
            f"{base}/reorienter",
            {**reorient, **values},
            {**reorient, **values, "reason": "Autre"},
        )

        withdraw = await form(coord, f"{base}/sortie")
        await accepted_then_reused(
            stack,
            coord,
            jid,
            f"{base}/sortie",
            {**withdraw, "reason": "Déménagement"},
            {**withdraw, "reason": "Autre motif"},
        )
    finally:
        await med.aclose()
        await coord.aclose()


async def test_referral_form_refused_then_corrected(api_stack: Stack) -> None:
    """A referral refused (here: a possible duplicate) leaves its form usable: corrected,
    the same form goes through."""
    stack = api_stack
    sw = await signed_in(stack, "sw")
    try:
        await fill(sw, "/accompagnement/orienter", person())
        fields = await form(sw, "/accompagnement/orienter")
        r = await sw.post("/accompagnement/orienter", data={**fields, **person()})
        assert r.status_code == 409 and 'id="duplicate-warning"' in r.text, r.text
        corrected = person(**{"person.first_name": "Josiane", "person.phone": "05 65 12 12 12"})
        r = await sw.post("/accompagnement/orienter", data={**fields, **corrected})
        assert r.status_code == 303, r.text
        assert count(stack.sessions, models.Beneficiary) == 2
    finally:
        await sw.aclose()
