"""The mediators' pages over real HTTP, logged in as the demo mediator: answer orientations,
log sessions with an immediate verdict per cheque, refusals in French next to the fields
with what was typed kept and nothing changed, a double submit that redeems once, the
cheques of the month, the cheque lookup and the exit assessment."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from domain.serials import parse_serial
from domain.validity import format_date_fr
from records import models, queries
from tests.fixtures.api import DEMO_EMAILS, PROGRAMME, Stack, csrf_from, signed_in_client
from tests.fixtures.database import count

CONSENT = {"given": True, "text": "J'accepte que mes données servent à mon parcours."}
_FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')


def today_fr(stack: Stack) -> str:
    """The stack's day (`stack.today`), as the pages show it once frozen (`stack.freeze(stack.now)`)."""
    return stack.today.strftime("%d/%m/%Y")


async def journey_with_booklet(
    stack: Stack, first_name: str = "Josette", commune: str = "Espalion"
) -> tuple[str, list[str]]:
    """A journey of the demo social worker, assessed and holding its booklet (JSON API)."""
    sw = stack.auth("sw")
    r = await stack.http.post(
        "/api/v1/referrals",
        json={
            "reception_structure_id": stack.people["sw"].reception_structure_id,
            "person": {"first_name": first_name, "last_name": "Vidal", "commune": commune},
            "consent": CONSENT,
        },
        headers={**sw, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    jid = r.json()["journey_id"]
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/assessments",
        json={"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL", "HEALTH"]},
        headers=sw,
    )
    assert r.status_code == 200, r.text
    r = await stack.http.post(f"/api/v1/journeys/{jid}/booklet", headers=sw)
    assert r.status_code == 200, r.text
    return jid, [ch["serial"] for ch in r.json()["cheques"]]


async def oriented_journey(
    stack: Stack, first_name: str = "Josette", to: str = "med", commune: str = "Espalion"
) -> tuple[str, list[str]]:
    """A journey ORIENTED toward the structure of `to` (a mediator of the fixture)."""
    jid, serials = await journey_with_booklet(stack, first_name, commune)
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/orientation",
        json={"mediation_structure_id": stack.people[to].mediation_structure_id},
        headers=stack.auth("sw"),
    )
    assert r.status_code == 200 and r.json()["stage"] == "ORIENTED", r.text
    return jid, serials


@asynccontextmanager
async def signed_in(
    stack: Stack, email: str = DEMO_EMAILS["med"]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in through the login form (its cookies carry the session)."""
    http = await signed_in_client(stack, email)
    try:
        yield http
    finally:
        await http.aclose()


def form_id(html: str) -> str:
    found = _FORM_ID.search(html)
    assert found, "no form_id in the page"
    return found[1]


def state_of(stack: Stack, jid: str) -> dict[str, Any]:
    """What a refused request must not change."""
    with stack.sessions() as s:
        journey = s.get(models.Journey, jid)
        assert journey is not None
        return {
            "journey": journey.model_dump(exclude={"updated_at"}),
            "cheques": sorted(
                (ch.serial, ch.status)
                for ch in s.exec(select(models.Cheque).where(models.Cheque.journey_id == jid))
            ),
            "sessions": count(
                stack.sessions, models.TrainingSession, models.TrainingSession.journey_id == jid
            ),
            "log": count(
                stack.sessions, models.TransitionLog, models.TransitionLog.journey_id == jid
            ),
        }


def session_data(stack: Stack, page: str, serials: list[str], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": csrf_from(page),
        "form_id": form_id(page),
        "serials": "\n".join(serials),
        "day": today_fr(stack),
        "duration_minutes": "90",
        "kind": "INDIVIDUAL",
        "place": "ON_SITE",
        "themes": ["EMAIL"],
        "action": "enregistrer",
    }
    data.update(extra)
    return data


def field_error(html: str, field: str) -> str:
    """The French message shown next to `field`."""
    found = re.search(rf'id="f-{field}-error">(.*?)</p>', html, re.S)
    assert found, f"no error next to {field}"
    return re.sub(r"<[^>]+>", "", found[1]).strip().removeprefix("Erreur : ")


def wrong_check_digit(serial: str) -> str:
    return serial[:-1] + str((int(serial[-1]) + 1) % 10)


async def test_orientations_are_accepted_or_declined_with_a_reason(api_stack: Stack) -> None:
    stack = api_stack
    stack.freeze(stack.now)
    first, _ = await oriented_journey(stack, "Josette", commune="Espalion")
    second, _ = await oriented_journey(stack, "Marcel", commune="Rodez")
    mediation = stack.people["med"].mediation_structure_id
    assert mediation is not None
    with stack.sessions() as s:  # the day the workflow (the dev server's clock) oriented it
        oriented_on = format_date_fr(
            next(
                o.since
                for o in queries.pending_orientations(
                    s, programme_code=PROGRAMME, mediation_structure_id=mediation
                )
                if o.journey_id == first
            )
        )
    async with signed_in(stack) as http:
        page = await http.get("/mediation/orientations")
        assert page.status_code == 200
        text = page.text
        for expected in ("Josette", "Espalion", "Marcel", "Rodez", oriented_on):
            assert expected in text
        assert "Messagerie électronique" in text and "moins d'un jour" in text
        assert "Vidal" not in text  # first name only

        # Accept: 303 to the trainees; the same form sent again changes nothing.
        key = re.search(
            rf'/parcours/{first}/accepter".*?name="form_id" value="([^"]+)"', text, re.S
        )
        assert key
        accept = {"csrf_token": csrf_from(text), "form_id": key[1]}
        r = await http.post(f"/mediation/parcours/{first}/accepter", data=accept)
        assert r.status_code == 303 and r.headers["location"].startswith("/mediation/beneficiaires")
        after = state_of(stack, first)
        assert after["journey"]["stage"] == "IN_TRAINING"
        r = await http.post(f"/mediation/parcours/{first}/accepter", data=accept)
        assert r.status_code == 303
        assert state_of(stack, first) == after
        trainees = await http.get(r.headers["location"])
        assert "Orientation acceptée" in trainees.text and "Josette" in trainees.text

        # Decline: the reason is required, "Autre motif" needs a comment; what was typed stays.
        form = await http.get(f"/mediation/parcours/{second}/refuser")
        assert form.status_code == 200 and "Marcel" in form.text
        before = state_of(stack, second)
        base = {"csrf_token": csrf_from(form.text), "form_id": form_id(form.text)}
        r = await http.post(
            f"/mediation/parcours/{second}/refuser", data={**base, "comment": "Complet en mai"}
        )
        assert r.status_code == 422
        assert field_error(r.text, "decline_reason") == "Choisissez le motif du refus."
        assert "Complet en mai</textarea>" in r.text
        r = await http.post(
            f"/mediation/parcours/{second}/refuser", data={**base, "decline_reason": "OTHER"}
        )
        assert r.status_code == 422
        assert field_error(r.text, "comment") == "Précisez le motif du refus."
        assert 'value="OTHER" checked' in r.text
        assert state_of(stack, second) == before
        r = await http.post(
            f"/mediation/parcours/{second}/refuser",
            data={**base, "decline_reason": "NO_CAPACITY", "comment": "Complet en mai"},
        )
        assert (
            r.status_code == 303 and r.headers["location"] == "/mediation/orientations?fait=refusee"
        )
        declined = state_of(stack, second)
        assert declined["journey"]["stage"] == "BOOKLET_ISSUED"
        assert declined["journey"]["orientation_status"] == "DECLINED"
        again = await http.post(
            f"/mediation/parcours/{second}/refuser",
            data={**base, "decline_reason": "NO_CAPACITY", "comment": "Complet en mai"},
        )
        assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
        assert state_of(stack, second) == declined
        listing = await http.get(r.headers["location"])
        assert "Refus enregistré" in listing.text
        assert "Aucune orientation n'attend votre réponse." in listing.text
        # The declined journey is no longer the mediator's: its pages answer 404.
        assert (await http.get(f"/mediation/parcours/{second}/refuser")).status_code == 404


async def test_a_session_shows_each_verdict_refuses_in_french_and_redeems_once(
    api_stack: Stack,
) -> None:
    stack = api_stack
    stack.freeze(stack.now)  # the form's days, the refusal's date and the month's cheques: one day
    jid, serials = await oriented_journey(stack)
    r = await stack.http.post(
        f"/api/v1/journeys/{jid}/orientation/answer",
        json={"mediation_structure_id": stack.people["med"].mediation_structure_id, "accept": True},
        headers=stack.auth("med"),
    )
    assert r.status_code == 200, r.text
    async with signed_in(stack) as http:
        page = (await http.get(f"/mediation/parcours/{jid}/seance")).text
        assert "Josette" in page and "autofocus" in page
        assert 'value="EMAIL" checked' in page  # the assessed needs, preselected
        url = f"/mediation/parcours/{jid}/seance"
        before = state_of(stack, jid)
        lines = stack.lines(serials)  # serial then security code, as the slip prints them

        # "Ajouter" (the Enter of a scanner): each cheque gets its verdict, nothing changes.
        add = {**session_data(stack, page, []), "action": "ajouter", "serial": lines[0]}
        r = await http.post(url, data=add)
        assert r.status_code == 200
        assert parse_serial(serials[0]).display in r.text and "Accepté" in r.text
        assert f"{lines[0]}</textarea>" in r.text
        typed = [lines[0], "12345", wrong_check_digit(serials[1])]
        r = await http.post(
            url,
            data={
                **session_data(stack, page, typed[:2]),
                "action": "ajouter",
                "serial": typed[2],
            },
        )
        assert r.status_code == 200
        assert "il faut 16 chiffres, 5 ont été saisis" in r.text
        assert "clé de contrôle invalide" in r.text
        assert "\n".join(typed) + "</textarea>" in r.text
        assert "1 chèque accepté sur 3" in r.text

        # The serial alone, a mistyped code (its check character), another cheque's code:
        # each refused with its reason; only the wrong code counts towards a lock.
        other_code = lines[2].split(" ", 1)[1]
        mistyped = lines[1][:-1] + ("A" if lines[1][-1] != "A" else "B")
        r = await http.post(
            url,
            data={
                **session_data(stack, page, [serials[1], mistyped]),
                "action": "ajouter",
                "serial": f"{serials[3]} {other_code}",
            },
        )
        assert r.status_code == 200
        assert "Saisissez aussi le code de sécurité du chèque" in r.text
        assert "est mal saisi (caractère de contrôle invalide)" in r.text
        assert "n&#39;est pas le sien" in r.text or "n'est pas le sien" in r.text
        assert "0 chèque accepté sur 3" in r.text
        with stack.sessions() as s:
            failures = s.exec(
                select(models.ChequeCodeFailure).where(models.ChequeCodeFailure.journey_id == jid)
            ).all()
        assert [(f.serial, f.cleared_at) for f in failures] == [(serials[3], None)]

        # Refusals next to their fields; what was typed kept; nothing changed.
        future = (stack.today + timedelta(days=1)).strftime("%d/%m/%Y")
        r = await http.post(url, data=session_data(stack, page, lines[:2], day=future))
        assert r.status_code == 422
        assert field_error(r.text, "day").startswith(
            "La date de la séance ne peut pas être dans le futur"
        )
        assert f'value="{future}"' in r.text
        r = await http.post(url, data=session_data(stack, page, lines[:2], duration_minutes="-30"))
        assert r.status_code == 422
        assert field_error(r.text, "duration_minutes") == (
            "La durée doit être un nombre de minutes positif."
        )
        assert 'value="-30"' in r.text
        r = await http.post(url, data=session_data(stack, page, [lines[0], "12345"]))
        assert r.status_code == 422
        assert "il faut 16 chiffres" in field_error(r.text, "serials")
        r = await http.post(url, data=session_data(stack, page, [wrong_check_digit(serials[0])]))
        assert r.status_code == 422
        assert "clé de contrôle invalide" in field_error(r.text, "serials")
        r = await http.post(url, data=session_data(stack, page, []))
        assert r.status_code == 422
        assert field_error(r.text, "serials") == (
            "Saisissez ou scannez au moins un chèque (numéro et code)."
        )
        assert state_of(stack, jid) == before

        # A double submit of the same form records one session and redeems each cheque once.
        data = session_data(stack, page, lines[:2])
        first, second = await asyncio.gather(http.post(url, data=data), http.post(url, data=data))
        assert first.status_code == second.status_code == 303, (first.text, second.text)
        receipt_url = first.headers["location"]
        assert receipt_url == second.headers["location"]
        assert receipt_url == f"/mediation/parcours/{jid}/seances/{data['form_id']}"
        after = state_of(stack, jid)
        assert after["sessions"] == 1
        assert sum(1 for _, status in after["cheques"] if status == "REDEEMED") == 2
        receipt = await http.get(receipt_url)
        assert receipt.status_code == 200
        assert receipt.text.count("Accepté") == 2 and "Séance enregistrée" in receipt.text
        with stack.sessions() as s:  # the right codes proved the holder there: slate clean
            failures = s.exec(
                select(models.ChequeCodeFailure).where(models.ChequeCodeFailure.journey_id == jid)
            ).all()
        assert failures and all(f.cleared_at is not None for f in failures)

        # A cheque already taken: the precise refusal, nothing changed.
        page = (await http.get(url)).text
        r = await http.post(url, data=session_data(stack, page, [lines[0], lines[2]]))
        assert r.status_code == 422
        message = f"Le chèque {parse_serial(serials[0]).display} a déjà été encaissé le {today_fr(stack)}."
        assert message in r.text and message in field_error(r.text, "serials")
        assert state_of(stack, jid) == after

        # The trainees, and the cheques of the month with their total.
        trainees = await http.get("/mediation/beneficiaires")
        assert "Josette" in trainees.text and "8 sur 10" in trainees.text
        assert today_fr(stack) in trainees.text and "31/01/" in trainees.text
        cheques = await http.get("/mediation/cheques")
        assert cheques.status_code == 200
        assert parse_serial(serials[1]).display in cheques.text
        assert "2 chèques, 20,00\u00a0€" in cheques.text
        home = await http.get("/mediation")
        assert "20,00\u00a0€" in home.text


async def test_a_cheque_holder_not_oriented_here_is_trained_after_a_lookup(
    api_stack: Stack,
) -> None:
    stack = api_stack
    # Oriented to another structure: this mediator does not see the journey...
    jid, serials = await oriented_journey(stack, "Paulette", to="med_other")
    async with signed_in(stack) as http:
        assert (await http.get(f"/mediation/parcours/{jid}/seance")).status_code == 404
        r = await http.get("/mediation/cheque", params={"numero": "0120000"})
        assert r.status_code == 422 and "il faut 16 chiffres" in field_error(r.text, "numero")
        r = await http.get("/mediation/cheque", params={"numero": wrong_check_digit(serials[0])})
        assert r.status_code == 422 and "clé de contrôle invalide" in field_error(r.text, "numero")
        # The serial alone tells only the cheque's verdict: no journey, no way to spend it.
        r = await http.get("/mediation/cheque", params={"numero": parse_serial(serials[0]).display})
        assert r.status_code == 200 and "Utilisable" in r.text
        assert jid not in r.text and "Paulette" not in r.text
        assert "saisissez aussi son code de sécurité" in r.text
        assert (await http.get(f"/mediation/parcours/{jid}/seance")).status_code == 404
        # ... nor does posting a session with serials only, or with a wrong code.
        lines = stack.lines(serials)
        form_page = (await http.get("/mediation/cheque")).text
        r = await http.post(
            f"/mediation/parcours/{jid}/seance",
            data={
                **session_data(
                    stack, f'name="form_id" value="{uuid.uuid4()}" ' + form_page, serials[:1]
                )
            },
        )
        assert r.status_code == 403
        # With the code printed beside the serial, the person is there: the session form.
        r = await http.post(
            "/mediation/cheque",
            data={"csrf_token": csrf_from(form_page), "numero": lines[0]},
        )
        assert r.status_code == 200 and "Code de sécurité vérifié" in r.text, r.text
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', r.text))
        assert hidden["serials"] == lines[0] and f"/mediation/parcours/{jid}/seance" in r.text
        page = await http.post(f"/mediation/parcours/{jid}/seance", data=hidden)
        assert page.status_code == 200, page.text
        assert "Titulaire du carnet" in page.text and "Paulette" not in page.text
        assert "Accepté" in page.text
        r = await http.post(
            f"/mediation/parcours/{jid}/seance", data=session_data(stack, page.text, lines[:1])
        )
        assert r.status_code == 303, r.text
        row = state_of(stack, jid)["journey"]
        assert row["mediation_structure_id"] == stack.people["med"].mediation_structure_id
        # Now the journey is theirs: name shown, exit assessment possible.
        exit_page = await http.get(f"/mediation/parcours/{jid}/diagnostic-sortie")
        assert exit_page.status_code == 200 and "Paulette" in exit_page.text
        before = state_of(stack, jid)
        base = {"csrf_token": csrf_from(exit_page.text), "form_id": form_id(exit_page.text)}
        r = await http.post(
            f"/mediation/parcours/{jid}/diagnostic-sortie", data={**base, "tool": "PIX"}
        )
        assert (
            r.status_code == 422 and field_error(r.text, "autonomy") == "Ce champ est obligatoire."
        )
        assert 'value="PIX" checked' in r.text
        assert state_of(stack, jid) == before
        r = await http.post(
            f"/mediation/parcours/{jid}/diagnostic-sortie",
            data={**base, "tool": "PIX", "autonomy": "AUTONOMOUS"},
        )
        assert r.status_code == 303, r.text
        with stack.sessions() as s:
            assessment = s.exec(
                select(models.Assessment).where(
                    models.Assessment.journey_id == jid, col(models.Assessment.kind) == "EXIT"
                )
            ).one()
            assert assessment.autonomy == "AUTONOMOUS" and assessment.tool == "PIX"
