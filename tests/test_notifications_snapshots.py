"""Every message's subject, text and HTML against stored snapshots (tests/snapshots/mail/).

After a deliberate change of wording or layout, rewrite the snapshots and review the diff:

    PASSNUM_UPDATE_SNAPSHOTS=1 /work/venv/bin/pytest tests/test_notifications_snapshots.py
    git diff tests/snapshots/
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from domain.needs import AutonomyLevel
from domain.notices import NoticeKind, Recipient
from domain.stages import Outcome, Stage
from notifications.context import JourneyFacts, MailContext, Person, Structure
from notifications.digest import DigestContext, DigestItem
from notifications.messages import MESSAGES, Message
from notifications.rendering import Rendered, render_message, render_template

SNAPSHOTS = Path(__file__).parent / "snapshots" / "mail"
UPDATE = os.environ.get("PASSNUM_UPDATE_SNAPSHOTS") == "1"

JOURNEY = JourneyFacts(
    id="3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
    stage=Stage.ORIENTED,
    programme_name="Pass numérique Aveyron",
    referred_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    millesime=2026,
    valid_until=datetime(2027, 1, 31, 23, 0, tzinfo=UTC),  # 1 February 2027, Paris midnight
    cheques_total=10,
    cheques_redeemed=4,
    sessions_count=3,
    entry_autonomy=AutonomyLevel.BEGINNER,
)
CLOSED = replace(
    JOURNEY,
    stage=Stage.CLOSED,
    outcome=Outcome.COMPLETED,
    closed_at=datetime(2026, 6, 12, 14, 0, tzinfo=UTC),
    cheques_redeemed=10,
    sessions_count=7,
    exit_autonomy=AutonomyLevel.INTERMEDIATE,
)
CTX = MailContext(
    base_url="https://passnum.example.fr",
    journey=JOURNEY,
    person=Person("Marie", "Dupont", email="marie.dupont@example.org", commune="Rodez"),
    reception=Structure(5, "CCAS de Rodez", "Rodez", "ccas-de-rodez@aveyron.example"),
    referrer_name="Léa Martin",
    mediation=Structure(
        7, "Espace numérique de la médiathèque de Rodez", "Rodez", "espace@aveyron.example"
    ),
    detail={
        "days": "10",
        "decline_reason": "TOO_FAR",
        "message": "Pouvez-vous rappeler Mme Dupont cette semaine ?",
        "cheques_left": "6",
        "mediation_structure_id": "7",
    },
    recipient_name="Léa Martin",
    outbox_id=42,
)


def _case(message: type[Message]) -> MailContext:
    ctx = CTX
    if message.kind.value == "JOURNEY_CLOSED":
        ctx = replace(ctx, journey=CLOSED)
    if message.kind.value == "EXPIRY_WARNING":
        ctx = replace(ctx, detail=ctx.detail | {"days": "30"})
    if message.kind.value == "BOOKLET_LOCKED":
        ctx = replace(ctx, detail=ctx.detail | {"failures": "5"})
    if message.kind.value == "BOOKLET_LOST":
        lost = {
            "lost_booklet_number": "123",
            "lost_on": "2026-03-02",
            "loss_reason": "STOLEN",
            "booklet_number": "456",
            "cheques": "6",
        }
        ctx = replace(ctx, detail=ctx.detail | lost)
    if message.kind.value == "MEDIATOR_CHANGED":
        chosen = Structure(9, "France services de Decazeville", "Decazeville", None)
        ctx = replace(ctx, new_mediation=chosen)
    if message.audience == Recipient.BENEFICIARY:
        ctx = replace(ctx, recipient_name=None)
    return ctx


CASES: dict[str, tuple[str, MailContext]] = {
    m.template: (m.template, _case(m)) for m in MESSAGES.values() if not m.digest_only
}
# A person without e-mail: the referrer receives the person's message, to pass on.
for name in (
    "referral_recorded_beneficiary",
    "expiry_warning_beneficiary",
    "booklet_lost_beneficiary",
):
    template, ctx = CASES[name]
    CASES[f"{name}__to_pass_on"] = (
        template,
        replace(ctx, person=replace(ctx.person, email=None), for_beneficiary=True),
    )
# Stage reminders say what is awaited at each stage.
for stage in (Stage.REFERRED, Stage.ASSESSED, Stage.BOOKLET_ISSUED):
    CASES[f"stage_reminder_referrer__{stage.value.lower()}"] = (
        "stage_reminder_referrer",
        replace(CTX, journey=replace(JOURNEY, stage=stage)),
    )
CASES["stage_reminder_mediation__in_training"] = (
    "stage_reminder_mediation",
    replace(
        CTX, detail=CTX.detail | {"days": "30"}, journey=replace(JOURNEY, stage=Stage.IN_TRAINING)
    ),
)

DIGEST = DigestContext(
    base_url="https://passnum.example.fr",
    programme_name="Pass numérique Aveyron",
    day=date(2026, 3, 2),
    recipient_name="Paul Bernard",
    scope="Rodez Agglomération",
    stalled=[
        DigestItem(
            ref="3F2A9C1E",
            url="https://passnum.example.fr/parcours/3f2a9c1e",
            reason="Orientation restée sans réponse 30 jours",
            stage=Stage.BOOKLET_ISSUED,
            reception="CCAS de Rodez",
            since=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        ),
        DigestItem(
            ref="77AB01CD",
            url="https://passnum.example.fr/parcours/77ab01cd",
            reason="Aucun diagnostic 20 jours après l'orientation",
            stage=Stage.REFERRED,
            reception="Maison des solidarités départementales de Rodez",
            since=datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
        ),
    ],
    reminders=[
        DigestItem(
            ref="5E6F7A8B",
            url="https://passnum.example.fr/parcours/5e6f7a8b",
            reason="Rappel : parcours de Jean Martin sans activité depuis 10 jours (5E6F7A8B)",
            stage=Stage.ASSESSED,
        )
    ],
)


def _render(name: str) -> Rendered:
    if name == "digest":
        return render_template(
            "digest",
            {"ctx": DIGEST, "programme_name": DIGEST.programme_name, "for_beneficiary": False},
        )
    template, ctx = CASES[name]
    return render_message(template, ctx)


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with PASSNUM_UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} changed (see module doc)"


@pytest.mark.parametrize("name", [*sorted(CASES), "digest"])
def test_rendered_message_matches_snapshot(name: str) -> None:
    rendered = _render(name)
    _check(SNAPSHOTS / f"{name}.subject.txt", rendered.subject + "\n")
    _check(SNAPSHOTS / f"{name}.txt", rendered.text)
    _check(SNAPSHOTS / f"{name}.html", rendered.html)


def test_every_message_has_a_snapshot_case() -> None:
    templates = {template for template, _ in CASES.values()}
    assert templates == {m.template for m in MESSAGES.values() if not m.digest_only}
    assert len(MESSAGES) == 23  # 22 mails and the digest-only stall notice


def test_html_escapes_what_people_typed_and_text_keeps_it() -> None:
    ctx = replace(CTX, person=Person("<b>Marie</b>", "O'Neil & fils"))
    rendered = render_message("orientation_request", ctx)
    assert "&lt;b&gt;Marie&lt;/b&gt;" in rendered.html and "<b>Marie" not in rendered.html
    assert "<b>Marie</b> O'Neil & fils" in rendered.text


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        render_template("orientation_request", {"programme_name": "x", "for_beneficiary": False})


def test_dates_are_french_in_paris_time() -> None:
    # 31 January 2027 23:00 UTC is 1 February 00:00 in Paris: the last valid day is 31/01.
    message = MESSAGES[(NoticeKind.EXPIRY_WARNING, Recipient.BENEFICIARY)]
    rendered = render_message("expiry_warning_beneficiary", _case(message))
    assert rendered.subject == "Vos chèques Pass numérique expirent le 31/01/2027"
    assert "60,00\u00a0€" in rendered.text
