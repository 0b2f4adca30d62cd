"""Free texts typed by professionals live in the records; the workflow carries their ids.

- the API's split of a request (api.journey_service.without_free_texts): the text out, an
  id in, the same id for the same request sent again under its key;
- the records (records.free_texts): written once, read back by id, taken back when the
  change is refused, erased at anonymisation (with the typed reasons of older log rows);
- the projection names the text on the log row and the timeline shows it; the nudge mail
  reads its message by id.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.journey_records import JourneyActivities
from api.journey_service import without_free_texts
from domain.contracts import (
    Actor,
    AnonymiseRequest,
    NudgeRequest,
    OrientationAnswer,
    OrientRequest,
    WithdrawRequest,
)
from domain.notices import NoticeKind, Recipient, notice_key
from domain.stages import Action, DeclineReason, Role, Stage
from notifications.context import load_context
from records import free_texts
from records.db import SessionFactory
from records.models import FreeText, NotificationOutbox, TransitionLog
from records.queries import journey_timeline
from tests.test_activities_journey_records import JID, T0, record, referral_event

COORDINATOR = Actor(Role.COORDINATOR, "4")
MEDIATOR = Actor(Role.MEDIATOR, "7")


UPDATES = {
    WithdrawRequest: "withdraw",
    NudgeRequest: "nudge",
    OrientRequest: "reorient",
    OrientationAnswer: "answer_orientation",
}


def split(
    request: Any, key: str | None = "k-1", fingerprint: str = "f" * 64
) -> tuple[Any, list[free_texts.NewText]]:
    name = UPDATES[type(request)]
    return without_free_texts(JID, name, request, key=key, fingerprint=fingerprint)


def test_the_text_leaves_the_request_and_its_id_takes_its_place() -> None:
    sent, rows = split(WithdrawRequest(COORDINATOR, reason="  Déménage à Millau  "))
    assert sent == WithdrawRequest(COORDINATOR, reason="", reason_id=rows[0].id)
    (row,) = rows
    assert (row.text, row.kind, row.author_role, row.author_ref) == (
        "Déménage à Millau",
        "withdraw.reason",
        "COORDINATOR",
        "4",
    )
    # The same request under the same key: the same id (a retry writes nothing new).
    assert split(WithdrawRequest(COORDINATOR, reason="Déménage à Millau"))[1][0].id == row.id
    assert split(WithdrawRequest(COORDINATOR, reason="x"), fingerprint="e" * 64)[1][0].id != row.id
    assert split(WithdrawRequest(COORDINATOR, reason="x"), key=None)[1][0].id != row.id
    # Each kind of request with free text; a blank text is no text (the rules refuse it).
    for request, field in (
        (OrientRequest(COORDINATOR, 3, reason="Trop loin"), "reason_id"),
        (OrientationAnswer(MEDIATOR, 3, False, DeclineReason.OTHER, "Complet"), "comment_id"),
        (NudgeRequest(COORDINATOR, message="Merci de rappeler"), "message_id"),
    ):
        sent, rows = split(request)
        assert len(rows) == 1 and getattr(sent, field) == rows[0].id
        assert not any(getattr(sent, f.name) == rows[0].text for f in dataclasses.fields(sent))
    sent, rows = split(NudgeRequest(COORDINATOR, message="   "))
    assert rows == [] and sent == NudgeRequest(COORDINATOR)
    sent, rows = split(WithdrawRequest(COORDINATOR, reason=" "))
    assert rows == [] and sent == WithdrawRequest(COORDINATOR, reason="")


def test_records_keep_show_and_erase_free_texts(sqlite_sessions: SessionFactory) -> None:
    record(sqlite_sessions, referral_event())
    _, (nudge,) = split(NudgeRequest(COORDINATOR, message="Appelez Mme Vidal"))
    _, (refused,) = split(WithdrawRequest(COORDINATOR, reason="Refusé"), key="k-2")
    with sqlite_sessions() as s:
        free_texts.write(s, [nudge, refused], T0)
        free_texts.write(s, [nudge], T0)  # a retried request: nothing twice
        free_texts.discard(s, [refused.id])  # its change was refused
        s.commit()
    with sqlite_sessions() as s:
        assert [t.id for t in s.exec(select(FreeText)).all()] == [nudge.id]

    # The workflow's event carries the id; the log row names it, the timeline shows the
    # text, the nudge mail says it. An older row carried typed text as its reason.
    later = T0 + timedelta(days=1)
    base = referral_event()
    kind, to = NoticeKind.NUDGE, Recipient.REFERRER
    nudged = dataclasses.replace(
        base,
        seq=2,
        at=later,
        actor=COORDINATOR,
        action=Action.NUDGED,
        from_stage=Stage.REFERRED,
        status=dataclasses.replace(base.status, seq=2),
        notices=[
            dataclasses.replace(
                base.notices[0],
                kind=kind,
                recipient=to,
                key=notice_key(JID, 2, kind, to),
                detail={"message_id": nudge.id},
            )
        ],
        text_id=nudge.id,
    )
    older = dataclasses.replace(
        nudged,
        seq=3,
        at=later + timedelta(hours=1),
        status=dataclasses.replace(base.status, seq=3),
        notices=[],
        reason="Texte tapé avant (historique ancien)",
        text_id=None,
    )
    record(sqlite_sessions, nudged, older)
    with sqlite_sessions() as s:
        log = {r.seq: r for r in s.exec(select(TransitionLog)).all()}
        assert log[2].free_text_id == nudge.id and log[2].reason is None
        assert [t.reason for t in journey_timeline(s, JID)][1:] == [
            "Appelez Mme Vidal",
            "Texte tapé avant (historique ancien)",
        ]
        notice = s.exec(
            select(NotificationOutbox).where(NotificationOutbox.idempotency_key.like("%NUDGE%"))  # type: ignore[attr-defined]
        ).one()
        assert load_context(s, notice, base_url="http://x").message == "Appelez Mme Vidal"

    # Anonymisation erases the texts and the typed reasons; fixed wordings stay.
    ActivityEnvironment().run(
        JourneyActivities(sqlite_sessions).anonymise_beneficiary,
        AnonymiseRequest(JID, later + timedelta(days=800)),
    )
    with sqlite_sessions() as s:
        (row,) = s.exec(select(FreeText)).all()
        assert row.text is None and row.erased_at is not None and row.kind == "nudge.message"
        assert [t.reason for t in journey_timeline(s, JID)] == [None, None, None]
        assert free_texts.texts(s, [nudge.id]) == {}
