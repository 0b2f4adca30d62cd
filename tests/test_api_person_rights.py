"""The person's rights over real HTTP (API, worker, dev server): the access export (JSON
and the printable page) to the social worker of the structure and coordinators in scope
only; a rectification logged once however often it is sent, the duplicate check following
it; erasure on request: cheques cancelled, journey closed and anonymised, mails erased,
statistics kept. Consent versions: pinned at referral, an older one refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlmodel import col, select

from domain import identity
from domain.rights import INITIAL_CONSENT_TEXT
from domain.serials import parse_serial
from records import duplicates, models
from tests.fixtures.access import ANON, EVERYONE, settle, snapshot
from tests.fixtures.api import Stack
from tests.fixtures.database import count
from tests.test_api_journey_http import session_body
from tests.test_pages_coordination import client_for
from tests.test_pages_social import hidden
from tests.test_pages_social import person as form_person
from tests.test_web_access import refused

PERSON = {
    "first_name": "Honorine",
    "last_name": "Cabantous",
    "birth_year": 1952,
    "phone": "05 65 77 88 99",
    "email": "honorine.cabantous@exemple.fr",
    "postal_address": "12 rue Béteille, 12000 Rodez",
    "commune": "Rodez",
    "preferred_channel": "EMAIL",
}
# Who serves the person's rights on a journey of the demo social worker's structure.
SERVING = {"sw", "coord_epci", "coord_all"}


def expected_refusals(write: bool) -> dict[str, int]:
    """Everyone else: 401 anonymous, 403 for the mediator who sees the journey (a change
    outside scope is 403 too), 404 for reads outside scope."""
    out = {}
    for who in (*EVERYONE, ANON):
        if who in SERVING:
            continue
        if who == ANON:
            out[who] = 401
        elif who == "med" or write:
            out[who] = 403
        else:
            out[who] = 404
    return out


async def _journey_in_training(stack: Stack) -> tuple[str, list[str]]:
    mine = stack.people["med"].mediation_structure_id
    assert mine is not None
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw"].reception_structure_id,
            "person": PERSON,
            "consent": {"given": True},
        },
        headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    jid = r.json()["journey_id"]
    steps: list[tuple[str, str, Any]] = [
        ("sw", "assessments", {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}),
        ("sw", "booklet", None),
        ("sw", "orientation", {"mediation_structure_id": mine}),
        ("med", "orientation/answer", {"mediation_structure_id": mine, "accept": True}),
    ]
    status: dict[str, Any] = {}
    for who, step, body in steps:
        r = await stack.http.post(
            f"/api/v1/journeys/{jid}/{step}", json=body, headers=stack.auth(who)
        )
        assert r.status_code == 200, (step, r.text)
        status = r.json()
    serials = [ch["serial"] for ch in status["cheques"]]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/sessions",
        json=session_body(mine, stack.cheques(serials[:2])),
        headers={**stack.auth("med"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    await settle(stack, jid)
    return jid, serials


async def _mail_to_the_person(stack: Stack, jid: str) -> models.MailDelivery:
    """The referral's mail to the person once sent (the worker delivers it just after)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        with stack.sessions() as s:
            found = s.exec(
                select(models.MailDelivery).where(
                    models.MailDelivery.journey_id == jid,
                    models.MailDelivery.audience == "BENEFICIARY",
                    models.MailDelivery.status == "SENT",
                )
            ).first()
        if found is not None:
            return found
        assert asyncio.get_running_loop().time() < deadline, "the person's mail was not sent"
        await asyncio.sleep(0.05)


async def test_access_rectification_and_erasure_over_the_api(api_stack: Stack) -> None:
    stack = api_stack
    jid, serials = await _journey_in_training(stack)
    url = f"/api/v1/journeys/{jid}/person-data"

    # The referral's mail to the person, sent (filed in the local mailbox).
    delivered = await _mail_to_the_person(stack, jid)
    assert delivered.address == PERSON["email"]

    # ---- droit d'accès ----
    await refused(stack, "GET", url, expected_refusals(False), jid=jid)
    for who in SERVING:
        r = await stack.http.get(url, headers=stack.auth(who))
        assert r.status_code == 200, (who, r.text)
    d = r.json()
    for field, value in PERSON.items():
        assert d["person"][field] == value, field
    assert d["person"]["preferred_channel_label"] == "Courriel"
    assert d["consent"]["version"] == 1
    assert d["consent"]["version_wording"] == INITIAL_CONSENT_TEXT
    assert d["consent"]["text_recorded"] == INITIAL_CONSENT_TEXT  # the version's wording
    assert d["consent"]["recorded_by"].startswith("Camille Travailleuse-Sociale")
    assert (d["journey"]["id"], d["journey"]["stage"]) == (jid, "IN_TRAINING")
    assert d["journey"]["reception_structure"] == "CCAS de Rodez"
    assert d["journey"]["mediation_structure"] == ("Espace numérique de la médiathèque de Rodez")
    assert [(a["tool_label"], a["needs_labels"]) for a in d["assessments"]] == [
        ("ABC Diag", ["Messagerie électronique"])
    ]
    assert [o["status"] for o in d["orientations"]] == ["ACCEPTED"]
    assert len(d["booklets"]) == 1 and len(d["cheques"]) == 10
    printed = [parse_serial(x).display for x in serials]
    assert [c["serial"] for c in d["cheques"]] == printed  # as on the slip
    assert [c["status"] for c in d["cheques"]].count("REDEEMED") == 2
    for code in stack.codes(serials):
        assert code not in r.text  # never the security codes
    assert len(d["sessions"]) == 1 and d["sessions"][0]["cheques"] == printed[:2]
    to_person = [m for m in d["mails"] if m["to"] == PERSON["email"]]
    assert to_person and to_person[0]["kind"] == "Orientation enregistrée"
    assert to_person[0]["status_label"] and to_person[0]["subject"]
    labels = [t["label"] for t in d["timeline"]]
    assert labels[:2] == ["Orientation vers le Pass numérique", "Diagnostic initial"]
    assert "Séance de formation" in labels
    assert d["rectifications"] == []

    # The printable document, from the journey pages.
    http = await client_for(stack, "sw")
    try:
        page = await http.get(f"/accompagnement/parcours/{jid}")
        assert f'href="/parcours/{jid}/donnees"' in page.text
        doc = await http.get(f"/parcours/{jid}/donnees")
        assert doc.status_code == 200 and doc.headers["cache-control"] == "no-store"
        for text in (
            "Données détenues sur la personne",
            "Honorine Cabantous",
            "honorine.cabantous@exemple.fr",
            "12 rue Béteille, 12000 Rodez",
            "version 1",
            printed[0],
            "CCAS de Rodez",
            "Séance de formation",
        ):
            assert text in doc.text, text
    finally:
        await http.aclose()

    # ---- droit de rectification ----
    put = f"/api/v1/journeys/{jid}/person"
    corrected = PERSON | {
        "last_name": "Cabantous-Rey",
        "email": "h.rey@exemple.fr",
        "phone": "06 11 22 33 44",
    }
    body = {"person": corrected, "reason": "CIVIL_STATUS_CHANGED"}
    await refused(stack, "PUT", put, expected_refusals(True), body=body, jid=jid)
    bad = await stack.http.put(
        put, json={"person": corrected, "reason": "WHIM"}, headers=stack.auth("sw")
    )
    assert bad.status_code == 422, bad.text
    key = str(uuid.uuid4())
    r = await stack.http.put(put, json=body, headers={**stack.auth("sw"), "Idempotency-Key": key})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == ["last_name", "phone", "email"]
    again = await stack.http.put(
        put, json=body, headers={**stack.auth("sw"), "Idempotency-Key": key}
    )
    assert again.status_code == 200 and again.json()["changed"] == []
    other = await stack.http.put(
        put,
        json={"person": corrected | {"commune": "Onet"}, "reason": "TYPING_ERROR"},
        headers={**stack.auth("sw"), "Idempotency-Key": key},
    )
    assert other.status_code == 409, other.text
    with stack.sessions() as s:
        person = s.exec(
            select(models.Beneficiary).where(models.Beneficiary.journey_id == jid)
        ).one()
        assert (person.last_name, person.email, person.phone) == (
            "Cabantous-Rey",
            "h.rey@exemple.fr",
            "06 11 22 33 44",
        )
        assert person.email_key == identity.email_key("h.rey@exemple.fr")
        logged = s.exec(
            select(models.PersonRectification).where(models.PersonRectification.journey_id == jid)
        ).all()
        assert [(x.fields, x.reason, x.account_id) for x in logged] == [
            (["last_name", "phone", "email"], "CIVIL_STATUS_CHANGED", stack.people["sw"].id)
        ]
        # The duplicate check now knows the person by the corrected identity only.
        by_new = duplicates.possible_duplicates(
            s,
            programme_code=12,
            first_name="Honorine",
            last_name="CABANTOUS REY",
            birth_year=1952,
            email=None,
            phone=None,
        )
        assert [m.journey.id for m in by_new] == [jid]
        by_old = duplicates.possible_duplicates(
            s,
            programme_code=12,
            first_name="Zoé",
            last_name="Autre",
            birth_year=None,
            email="honorine.cabantous@exemple.fr",
            phone="05 65 77 88 99",
        )
        assert by_old == []
    d = (await stack.http.get(url, headers=stack.auth("coord_epci"))).json()
    assert d["person"]["last_name"] == "Cabantous-Rey"
    assert d["rectifications"][0]["fields_labels"] == ["Nom", "Téléphone", "Adresse e-mail"]
    assert d["rectifications"][0]["by"].startswith("Camille Travailleuse-Sociale")

    # ---- droit à l'effacement ----
    erase = f"/api/v1/journeys/{jid}/erasure"
    await refused(stack, "POST", erase, expected_refusals(True), jid=jid)
    key = str(uuid.uuid4())
    r = await stack.http.post(erase, headers={**stack.auth("coord_epci"), "Idempotency-Key": key})
    assert r.status_code == 200, r.text
    assert (r.json()["stage"], r.json()["outcome"]) == ("ANONYMISED", "WITHDRAWN")
    again = await stack.http.post(
        erase, headers={**stack.auth("coord_epci"), "Idempotency-Key": key}
    )
    assert again.status_code == 200 and again.json()["stage"] == "ANONYMISED", again.text
    before = snapshot(stack, jid)
    late = await stack.http.post(erase, headers={**stack.auth("sw"), "Idempotency-Key": "x" * 10})
    assert late.status_code == 409 and late.json()["error"]["code"] == "wrong_stage", late.text
    assert snapshot(stack, jid) == before
    with stack.sessions() as s:
        person = s.exec(
            select(models.Beneficiary).where(models.Beneficiary.journey_id == jid)
        ).one()
        assert (person.first_name, person.last_name, person.email, person.phone) == (
            None,
            None,
            None,
            None,
        )
        assert person.postal_address is None and person.anonymised_at is not None
        assert (person.name_key, person.email_key, person.phone_key) == (None, None, None)
        journey = s.get(models.Journey, jid)
        assert journey is not None
        assert (journey.stage, journey.outcome, journey.cheques_redeemed) == (
            "ANONYMISED",
            "WITHDRAWN",
            2,
        )
        statuses = s.exec(select(models.Cheque.status).where(models.Cheque.journey_id == jid)).all()
        assert sorted(statuses) == ["CANCELLED"] * 8 + ["REDEEMED"] * 2
        mails = s.exec(
            select(models.MailDelivery).where(models.MailDelivery.journey_id == jid)
        ).all()
        assert mails and all(m.subject is None for m in mails)
        theirs = s.get(models.MailDelivery, delivered.id)
        assert theirs is not None and theirs.address == ""
        copies = s.exec(
            select(models.MailboxMessage).where(
                models.MailboxMessage.message_id == delivered.message_id
            )
        ).all()
        assert copies and all(
            c.subject.startswith("Courriel effacé") and "Cabantous" not in c.raw for c in copies
        )
        assert all("cabantous" not in m.address.lower() for m in mails)
        assert not s.exec(
            select(models.MailDelivery).where(col(models.MailDelivery.address).contains("rey@"))
        ).all()
    d = (await stack.http.get(url, headers=stack.auth("sw"))).json()
    assert d["person"]["last_name"] is None and d["journey"]["stage"] == "ANONYMISED"
    assert "Effacement des données demandé par la personne" in [t["label"] for t in d["timeline"]]
    gone = await stack.http.put(put, json=body, headers=stack.auth("sw"))
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "anonymised"


async def test_consent_versions_are_pinned_and_an_older_one_refused(api_stack: Stack) -> None:
    stack = api_stack
    r = await stack.http.get("/api/v1/consent-versions", headers=stack.auth("sw"))
    assert r.status_code == 200 and [v["version"] for v in r.json()] == [1]

    async def refer(consent: dict[str, Any]) -> Any:
        return await stack.http.post(
            "/api/v1/referrals",
            json={
                "reception_structure_id": stack.people["sw"].reception_structure_id,
                "person": PERSON | {"first_name": str(uuid.uuid4())[:8]},
                "consent": consent,
                "confirm_possible_duplicate": True,
            },
            headers={**stack.auth("sw"), "Idempotency-Key": str(uuid.uuid4())},
        )

    first = await refer({"given": True, "version": 1})
    assert first.status_code == 201, first.text
    wording = "J'accepte, version réécrite pour la démonstration des versions du consentement."
    refused_publish = await stack.http.post(
        "/api/v1/consent-versions", json={"wording": wording}, headers=stack.auth("sw")
    )
    assert refused_publish.status_code == 403
    published = await stack.http.post(
        "/api/v1/consent-versions", json={"wording": wording}, headers=stack.auth("admin")
    )
    assert published.status_code == 201, published.text
    assert (published.json()["version"], published.json()["in_force"]) == (2, True)
    same = await stack.http.post(
        "/api/v1/consent-versions", json={"wording": wording}, headers=stack.auth("admin")
    )
    assert same.status_code == 409 and same.json()["error"]["code"] == "same_wording"

    old = await refer({"given": True, "version": 1})
    assert old.status_code == 409, old.text
    assert old.json()["error"]["code"] == "consent_version_outdated"
    assert old.json()["error"]["details"] == {"current_version": 2}
    second = await refer({"given": True})
    assert second.status_code == 201, second.text
    with stack.sessions() as s:
        pinned = {
            b.journey_id: (b.consent_version, b.consent_text)
            for b in s.exec(select(models.Beneficiary)).all()
        }
    assert pinned[first.json()["journey_id"]] == (1, INITIAL_CONSENT_TEXT)
    assert pinned[second.json()["journey_id"]] == (2, wording)
    d = await stack.http.get(
        f"/api/v1/journeys/{first.json()['journey_id']}/person-data", headers=stack.auth("sw")
    )
    assert (d.json()["consent"]["version"], d.json()["consent"]["version_wording"]) == (
        1,
        INITIAL_CONSENT_TEXT,
    )


async def test_the_referral_page_pins_the_version_it_showed(api_stack: Stack) -> None:
    """The referral page shows the wording in force and sends its version: published
    meanwhile, a newer one refuses the referral (nothing recorded) and the page shows the
    new wording to read; sent again on it, the referral pins it."""
    stack = api_stack
    http = await client_for(stack, "sw")
    try:
        page = await http.get("/accompagnement/orienter")
        assert 'name="consent_version" value="1"' in page.text
        assert "version 1" in page.text
        wording = "J'accepte, texte publié pendant que la page était ouverte (version deux)."
        r = await stack.http.post(
            "/api/v1/consent-versions", json={"wording": wording}, headers=stack.auth("admin")
        )
        assert r.status_code == 201
        data = {
            **hidden(page.text),
            **form_person(**{"person.first_name": "Solange", "person.last_name": "Mazars"}),
            "consent_version": "1",
        }
        before = count(stack.sessions, models.Beneficiary)
        r = await http.post("/accompagnement/orienter", data=data)
        assert r.status_code == 409
        assert "Le texte de consentement a changé" in r.text.replace("&#39;", "'")
        assert wording.replace("'", "&#39;") in r.text
        assert 'name="consent_version" value="2"' in r.text
        assert count(stack.sessions, models.Beneficiary) == before
        r = await http.post("/accompagnement/orienter", data=data | {"consent_version": "2"})
        assert r.status_code == 303, r.text
        with stack.sessions() as s:
            person = s.exec(
                select(models.Beneficiary).where(models.Beneficiary.last_name == "Mazars")
            ).one()
        assert (person.consent_version, person.consent_text) == (2, wording)
    finally:
        await http.aclose()


async def test_the_rights_pages_by_role_and_a_double_submit(api_stack: Stack) -> None:
    stack = api_stack
    jid, _ = await _journey_in_training(stack)
    expected = {
        "med": (403, 403, 403),
        "sw_other": (404, 403, 403),
        "coord_other": (404, 403, 403),
        "admin": (404, 403, 403),
        "coord_epci": (200, 200, 200),
    }
    for who, statuses in expected.items():
        http = await client_for(stack, who)
        try:
            got = tuple(
                [
                    (await http.get(f"/parcours/{jid}/{page}")).status_code
                    for page in ("donnees", "rectification", "effacement")
                ]
            )
            assert got == statuses, who
            if who == "coord_epci":
                journey = await http.get(f"/coordination/parcours/{jid}")
                assert f'href="/parcours/{jid}/effacement"' in journey.text
        finally:
            await http.aclose()

    http = await client_for(stack, "sw")
    try:
        page = await http.get(f"/parcours/{jid}/rectification")
        assert 'value="Honorine"' in page.text
        data = {
            **hidden(page.text),
            "person.first_name": "Honorine",
            "person.last_name": "Cabantous",
            "person.birth_year": "1953",
            "person.phone": "05 65 77 88 99",
            "person.email": "honorine.cabantous@exemple.fr",
            "person.postal_address": "12 rue Béteille, 12000 Rodez",
            "person.commune": "Rodez",
            "person.preferred_channel": "EMAIL",
            "reason": "TYPING_ERROR",
        }
        for _ in range(2):  # a double submit
            r = await http.post(f"/parcours/{jid}/rectification", data=data)
            assert r.status_code == 303, r.text
        r = await http.post(
            f"/parcours/{jid}/rectification", data=data | {"person.birth_year": "1954"}
        )
        assert r.status_code == 409 and "déjà été envoyé" in r.text.replace("&#39;", "'")
        with stack.sessions() as s:
            logged = s.exec(
                select(models.PersonRectification).where(
                    models.PersonRectification.journey_id == jid
                )
            ).all()
            person = s.exec(
                select(models.Beneficiary).where(models.Beneficiary.journey_id == jid)
            ).one()
        assert [x.fields for x in logged] == [["birth_year"]]
        assert person.birth_year == 1953
    finally:
        await http.aclose()
