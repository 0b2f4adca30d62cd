"""The access matrix of the coordination and administration pages: every route x every
role x own scope / other scope / anonymous, asserting the answer and that nothing changed.

Anonymous visitors are sent to the login page (303), other roles get 403 on every page of
a space that is not theirs; a coordinator of another EPCI gets 404 reading a journey and
403 changing it. Callers authenticate with their personal API token (pages accept it,
without CSRF: a browser never sends one on its own)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from records import models
from tests.fixtures.access import ANON, EVERYONE, headers, live_seq, settle, snapshot
from tests.fixtures.api import Stack
from tests.fixtures.stalled import stalled_journey

COORDINATORS = {"coord_epci", "coord_all"}
NOT_COORDINATORS = {"sw", "sw_other", "med", "med_other", "admin"}


def admin_state(stack: Stack, structure_id: int) -> dict[str, Any]:
    with stack.sessions() as s:
        structure = s.get(models.MediationStructure, structure_id)
        assert structure is not None
        return {
            "accounts": sorted(
                (a.email, a.is_active) for a in s.exec(select(models.Account)).all()
            ),
            "tokens": sorted(
                (t.id, t.revoked_at is None) for t in s.exec(select(models.ApiToken)).all()
            ),
            "qualification": (structure.aptic_qualified_from, structure.aptic_qualified_until),
        }


async def answers(
    stack: Stack, method: str, path: str, expected: dict[str, int], data: Any = None
) -> None:
    for who, status in expected.items():
        r = await stack.http.request(method, path, data=data, headers=headers(stack, who))
        assert r.status_code == status, (who, method, path, r.status_code, r.text[:300])
        if who == ANON:
            assert r.headers["location"].startswith("/connexion?suivant=")
        elif status in (403, 404):
            # The French error page, or the message next to the field (cheque lookup).
            assert 'class="notice notice-error" role="alert"' in r.text or "field-error" in r.text


async def test_coordination_pages_by_role_and_scope(
    api_stack: Stack, dev_server: WorkflowEnvironment
) -> None:
    stack = api_stack
    jid = await stalled_journey(stack, dev_server.client)
    await settle(stack, jid)
    with stack.sessions() as s:
        serial = s.exec(select(models.Cheque.serial).where(models.Cheque.journey_id == jid)).first()
    target = stack.people["med_other"].mediation_structure_id
    base = f"/coordination/parcours/{jid}"
    before, seq = snapshot(stack, jid), await live_seq(stack, jid)

    def expect(own: int, other: int) -> dict[str, int]:
        out = {who: 403 for who in NOT_COORDINATORS}
        return {**out, ANON: 303, "coord_epci": own, "coord_all": own, "coord_other": other}

    for path in (
        "/coordination",
        "/coordination/bloques",
        "/coordination/cheques",
        "/coordination/financeurs",
        "/coordination/millesimes",
    ):
        await answers(stack, "GET", path, expect(200, 200))
    await answers(stack, "GET", f"/coordination/cheques?numero={serial}", expect(200, 404))
    for path in (base, f"{base}/reorienter", f"{base}/sortie"):
        await answers(stack, "GET", path, expect(200, 404))
    listed = await stack.http.get("/coordination/bloques", headers=stack.auth("coord_other"))
    assert jid not in listed.text

    writes = {
        f"{base}/relance": {"form_id": "0b7c5d1e-8f0a-4c55-9a31-7d2b9e6f4a10"},
        f"{base}/reorienter": {
            "form_id": "1b7c5d1e-8f0a-4c55-9a31-7d2b9e6f4a10",
            "mediation_structure_id": str(target),
            "reason": "Plus proche",
        },
        f"{base}/sortie": {"form_id": "2b7c5d1e-8f0a-4c55-9a31-7d2b9e6f4a10", "reason": "Parti"},
    }
    refused = {**{who: 403 for who in NOT_COORDINATORS | {"coord_other"}}, ANON: 303}
    for path, data in writes.items():
        await answers(stack, "POST", path, refused, data=data)
        # Refused before the form is read: bad input from outside the scope is 403 too.
        await answers(stack, "POST", path, {"coord_other": 403}, data={})
    await settle(stack, jid)
    assert snapshot(stack, jid) == before and await live_seq(stack, jid) == seq

    missing = "/coordination/parcours/00000000-0000-4000-8000-000000000000"
    await answers(stack, "GET", missing, {"coord_all": 404, ANON: 303})
    await answers(
        stack, "POST", f"{missing}/relance", {"coord_all": 404}, data=writes[f"{base}/relance"]
    )

    # The rightful callers: a coordinator of J's EPCI, then of the whole programme.
    await answers(
        stack, "POST", f"{base}/relance", {"coord_epci": 303}, data=writes[f"{base}/relance"]
    )
    await answers(
        stack, "POST", f"{base}/reorienter", {"coord_all": 303}, data=writes[f"{base}/reorienter"]
    )
    assert await live_seq(stack, jid) > seq


async def test_administration_pages_by_role(api_stack: Stack) -> None:
    stack = api_stack
    with stack.sessions() as s:
        structure_id = s.exec(
            select(models.MediationStructure.id).where(
                col(models.MediationStructure.aptic_qualified_until).is_(None)
            )
        ).first()
        token_id = s.exec(
            select(models.ApiToken.id).where(models.ApiToken.account_id == stack.people["sw"].id)
        ).first()
    assert structure_id and token_id
    account = f"/administration/comptes/{stack.people['sw'].id}"
    others = {who: 403 for who in EVERYONE if who not in ("admin", ANON)}
    before = admin_state(stack, structure_id)

    for path in (
        "/administration",
        "/administration/structures",
        f"/administration/structures/mediation/{structure_id}",
        "/administration/comptes",
        "/administration/comptes/nouveau",
        account,
    ):
        await answers(stack, "GET", path, {**others, ANON: 303, "admin": 200})
    writes = {
        f"/administration/structures/mediation/{structure_id}": {"qualified_from": "2030-01-01"},
        "/administration/comptes/nouveau": {
            "full_name": "Intrus",
            "email": "intrus@test.example",
            "role": "ADMINISTRATOR",
            "password": "un mot de passe long",
        },
        f"{account}/desactiver": {},
        f"{account}/jetons": {"label": "intrus"},
        f"/administration/jetons/{token_id}/revoquer": {},
    }
    for path, data in writes.items():
        await answers(stack, "POST", path, {**others, ANON: 303}, data=data)
    assert admin_state(stack, structure_id) == before
    await answers(stack, "GET", "/administration/comptes/999999", {"admin": 404})
    await answers(stack, "POST", "/administration/jetons/999999/revoquer", {"admin": 404})
    assert admin_state(stack, structure_id) == before
