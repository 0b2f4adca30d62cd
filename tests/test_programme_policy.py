"""Policy per programme (issue 11): bounds proved on the domain rule, the administrators'
API and page (administrators only, French refusals, nothing changed on bad input, double
submits and retried requests change nothing more, audit-logged), and a change applied to
new journeys only: a journey referred before keeps its booklet size and stall days, one
referred after takes the new ones."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from domain import contracts as c
from domain.policy import BOUNDS, PAIRS, JourneyPolicy, as_values, from_values, policy_problems
from domain.rights import AuditAction
from domain.stages import Stage
from records import models
from records import policy as stored
from records.seed import seed_default_programme
from tests.fixtures.api import Stack, csrf_from, refer_over_api, train_over_api
from tests.fixtures.temporal import REFERRER, Journeys
from tests.test_pages_coordination import client_for, field_error, form_id

DEFAULTS = as_values(JourneyPolicy())
URL = "/api/v1/programme/policy"
CONSENT = {"given": True, "text": "J'accepte que mes données soient utilisées pour mon parcours."}
ASSESSMENT = {"tool": "ABC_DIAG", "autonomy": "BEGINNER", "needs": ["EMAIL"]}


# ---- the rule ----


@st.composite
def valid_values(draw: st.DrawFn) -> dict[str, int]:
    values = {n: draw(st.integers(b.low, b.high)) for n, b in BOUNDS.items()}
    for reminder, deadline in PAIRS:
        low = BOUNDS[reminder].low
        values[deadline] = draw(st.integers(low + 1, BOUNDS[deadline].high))
        values[reminder] = draw(st.integers(low, values[deadline] - 1))
    return values


@given(valid_values())
def test_values_within_bounds_are_accepted_and_round_trip(values: dict[str, int]) -> None:
    assert policy_problems(values) == {}
    policy = from_values(values)
    assert as_values(policy) == values
    # a pending orientation follows the orientation calendar
    assert policy.stage_deadlines[Stage.ORIENTED].stalled_days == values["orientation_expiry_days"]


@given(
    st.sampled_from(sorted(BOUNDS)),
    st.one_of(st.integers(-10_000, -1), st.integers(1, 10_000)),
)
def test_a_value_out_of_bounds_is_refused_in_french(name: str, beyond: int) -> None:
    bound = BOUNDS[name]
    value = bound.low + beyond if beyond < 0 else bound.high + beyond
    values = {**DEFAULTS, name: value}
    problems = policy_problems(values)
    assert problems[name] == (
        f"{bound.label} : entre {bound.low} et {bound.high} {bound.unit}, pas {value}."
    )


def test_a_reminder_must_come_before_its_deadline() -> None:
    values = {**DEFAULTS, "assessed_reminder_days": 20}  # deadline: 20
    assert policy_problems(values) == {
        "assessed_reminder_days": "Relance, étape « diagnostic réalisé » : la relance doit "
        "venir avant l'échéance (20 jours), pas à 20 jours."
    }
    assert policy_problems({**DEFAULTS, "orientation_expiry_days": 5}).keys() == {
        "orientation_reminder_days"
    }


def test_defaults_are_what_the_workflow_used_before() -> None:
    assert from_values(DEFAULTS) == JourneyPolicy()
    assert policy_problems(DEFAULTS) == {}


# ---- API and page ----


def audit_count(stack: Stack) -> int:
    with stack.sessions() as s:
        rows = s.exec(
            select(models.AdminAudit).where(
                models.AdminAudit.action == AuditAction.POLICY_CHANGED.value
            )
        ).all()
        return len(rows)


async def get_policy(stack: Stack) -> dict[str, Any]:
    r = await stack.http.get(URL, headers=stack.auth("admin"))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_api_administrators_only_bounds_and_retries(api_stack: Stack) -> None:
    stack = api_stack
    for who in ("sw", "med", "coord_all"):
        assert (await stack.http.get(URL, headers=stack.auth(who))).status_code == 403
        r = await stack.http.put(URL, json=DEFAULTS, headers=stack.auth(who))
        assert r.status_code == 403
    assert (await stack.http.get(URL)).status_code == 401

    before = await get_policy(stack)
    assert before["values"] == DEFAULTS
    assert before["bounds"]["cheques_per_booklet"] == {
        "label": "Chèques par carnet",
        "unit": "chèques",
        "min": 1,
        "max": 50,
    }
    assert before["frozen"] == []
    assert before["running_journeys"].startswith("Les parcours en cours gardent")

    bad = {**DEFAULTS, "cheques_per_booklet": 51, "referred_reminder_days": 25}
    key = str(uuid.uuid4())
    r = await stack.http.put(URL, json=bad, headers={**stack.auth("admin"), "Idempotency-Key": key})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "policy_refused"
    by_field = {d["field"]: d["message"] for d in error["details"]}
    assert by_field == {
        "cheques_per_booklet": "Chèques par carnet : entre 1 et 50 chèques, pas 51.",
        "referred_reminder_days": "Relance, étape « orienté vers le dispositif » : la relance "
        "doit venir avant l'échéance (20 jours), pas à 25 jours.",
    }
    assert (await get_policy(stack))["values"] == DEFAULTS  # nothing changed
    assert audit_count(stack) == 0
    r = await stack.http.put(
        URL, json={**DEFAULTS, "grace_months": "un"}, headers=stack.auth("admin")
    )
    assert r.status_code == 422
    assert (await get_policy(stack))["values"] == DEFAULTS

    good = {**DEFAULTS, "cheques_per_booklet": 8, "retention_days": 365}
    # the key of the refused request was not spent: the rollback took it back
    r = await stack.http.put(
        URL, json=good, headers={**stack.auth("admin"), "Idempotency-Key": key}
    )
    assert r.status_code == 200, r.text
    assert r.json()["values"] == good
    again = await stack.http.put(
        URL, json=good, headers={**stack.auth("admin"), "Idempotency-Key": key}
    )
    assert again.status_code == 200 and again.json() == r.json()
    assert audit_count(stack) == 1
    other = await stack.http.put(
        URL, json=DEFAULTS, headers={**stack.auth("admin"), "Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert (await get_policy(stack))["values"] == good
    with stack.sessions() as s:
        entry = s.exec(
            select(models.AdminAudit).where(
                models.AdminAudit.action == AuditAction.POLICY_CHANGED.value
            )
        ).one()
        assert entry.details == {"cheques_per_booklet": "10 → 8", "retention_days": "730 → 365"}


async def test_page_shows_rules_refuses_in_french_and_ignores_double_submit(
    api_stack: Stack,
) -> None:
    stack = api_stack
    sw = await client_for(stack, "sw")
    try:
        assert (await sw.get("/administration/regles")).status_code == 403
    finally:
        await sw.aclose()
    http = await client_for(stack, "admin")
    try:
        page = await http.get("/administration/regles")
        assert page.status_code == 200
        assert (
            "Les parcours en cours gardent les règles de leur orientation ; "
            "les nouvelles orientations prennent celles-ci." in page.text
        )
        assert 'name="cheques_per_booklet" type="number" value="10"' in page.text
        assert "Entre 1 et 50 chèques." in page.text
        fields = {"csrf_token": csrf_from(page.text), "form_id": form_id(page.text)}
        typed = {k: str(v) for k, v in DEFAULTS.items()}

        bad = await http.post(
            "/administration/regles",
            data={**fields, **typed, "in_training_stalled_days": "400", "retention_days": "10"},
        )
        assert bad.status_code == 422
        assert field_error(bad.text, "in_training_stalled_days") == (
            "Parcours bloqué, étape « en formation » : entre 1 et 365 jours, pas 400."
        )
        assert field_error(bad.text, "retention_days") == (
            "Conservation avant anonymisation : entre 30 et 3650 jours, pas 10."
        )
        assert 'value="400"' in bad.text  # what was typed is kept
        assert (await get_policy(stack))["values"] == DEFAULTS

        fields["csrf_token"] = csrf_from(bad.text)
        good = {**typed, "booklet_issued_reminder_days": "5", "booklet_issued_stalled_days": "9"}
        for _ in range(2):  # a double submit: same form id
            done = await http.post("/administration/regles", data={**fields, **good})
            assert done.status_code == 303
            assert done.headers["location"] == "/administration/regles?fait=regles"
        assert audit_count(stack) == 1
        after = (await get_policy(stack))["values"]
        assert after["booklet_issued_reminder_days"] == 5
        assert after["booklet_issued_stalled_days"] == 9
        shown = await http.get("/administration/regles?fait=regles")
        assert "Les règles sont enregistrées" in shown.text
        assert 'name="booklet_issued_stalled_days" type="number" value="9"' in shown.text
    finally:
        await http.aclose()


# ---- end to end: new journeys take the change, running ones keep theirs ----


async def started_policy(stack: Stack, journey_id: str) -> JourneyPolicy:
    """The policy in the journey's workflow input (its first history event)."""
    client = stack.app.state.passnum.temporal
    history = await client.get_workflow_handle(c.workflow_id_for(journey_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (start,) = await client.data_converter.decode(started.input.payloads, [c.JourneyInput])
    assert isinstance(start, c.JourneyInput)
    return start.policy


def person(first: str, year: int) -> dict[str, Any]:
    return {"first_name": first, "last_name": "Règles", "birth_year": year, "commune": "Rodez"}


async def test_policy_change_applies_to_new_journeys_only(api_stack: Stack) -> None:
    stack = api_stack
    mediation = stack.people["med"].mediation_structure_id
    before = await refer_over_api(stack, person("Avant", 1950), CONSENT)

    changed = {
        **DEFAULTS,
        "referred_reminder_days": 3,
        "referred_stalled_days": 7,
        "cheques_per_booklet": 6,
    }
    r = await stack.http.put(URL, json=changed, headers=stack.auth("admin"))
    assert r.status_code == 200, r.text
    after = await refer_over_api(stack, person("Après", 1960), CONSENT)

    old, new = await started_policy(stack, before), await started_policy(stack, after)
    assert old == JourneyPolicy()
    assert new.stage_deadlines[Stage.REFERRED].reminder_days == 3
    assert new.stage_deadlines[Stage.REFERRED].stalled_days == 7
    assert new.cheques_per_booklet == 6

    # The booklet page says what each journey's booklet will hold.
    sw = await client_for(stack, "sw")
    try:
        for jid, count in ((before, 10), (after, 6)):
            page = await sw.get(f"/accompagnement/parcours/{jid}/carnet")
            assert page.status_code == 200
            assert f"<dd>{count} chèques APTIC de " in page.text
    finally:
        await sw.aclose()
    # Journeys exist: the grace after the millésime can no longer change.
    r = await stack.http.put(URL, json={**changed, "grace_months": 2}, headers=stack.auth("admin"))
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == ["grace_months"]

    # Both booklets are issued after the change: each takes its journey's policy.
    _, booklet_before, _, _ = await train_over_api(stack, before, mediation, ASSESSMENT)
    _, booklet_after, _, _ = await train_over_api(stack, after, mediation, ASSESSMENT)
    assert len(booklet_before["cheques"]) == 10
    assert len(booklet_after["cheques"]) == 6

    # Cheques are out: their value and the grace can no longer change; the rest can.
    frozen = await stack.http.put(
        URL, json={**changed, "cheque_value_cents": 1500}, headers=stack.auth("admin")
    )
    assert frozen.status_code == 422
    (detail,) = frozen.json()["error"]["details"]
    assert detail["field"] == "cheque_value_cents"
    assert detail["message"].startswith("Valeur d'un chèque : ne peut plus changer")
    state = await get_policy(stack)
    assert state["values"] == changed and sorted(state["frozen"]) == [
        "cheque_value_cents",
        "grace_months",
    ]
    with stack.sessions() as s:
        per_journey = {
            jid: len(
                s.exec(select(models.Cheque).where(col(models.Cheque.journey_id) == jid)).all()
            )
            for jid in (before, after)
        }
    assert per_journey == {before: 10, after: 6}


async def test_stall_timer_follows_the_policy_at_referral(journeys: Journeys) -> None:
    """On the time-skipping server: after a change of the referred stage's stall days, a
    journey started with the stored policy stalls at the new day; one started before
    (the old policy, in its input) has not stalled yet."""
    j = journeys
    with j.sessions() as s:
        seed_default_programme(s)
        programme = s.exec(select(models.Programme)).one()
        old_policy = stored.load(s, programme)
        stored.save(
            s, programme, {**DEFAULTS, "referred_reminder_days": 2, "referred_stalled_days": 4}
        )
        s.commit()
    old, _ = await j.start(policy=old_policy)
    with j.sessions() as s:
        new_policy = stored.load(s, s.exec(select(models.Programme)).one())
    assert new_policy.stage_deadlines[Stage.REFERRED].stalled_days == 4
    new, _ = await j.start(policy=new_policy)

    await j.advance(timedelta(days=5))
    assert (await j.settle(new)).stalled
    assert not (await j.settle(old)).stalled  # its deadline stays at day 20
    await j.advance(timedelta(days=16))
    assert (await j.settle(old)).stalled
    for handle in (old, new):
        await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(REFERRER, "Déménagement"))
    for handle in (old, new):
        assert (await j.finish(handle)).stage == Stage.ANONYMISED
