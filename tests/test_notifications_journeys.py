"""Each lifecycle event mails the right people and no one else: journeys driven on the
time-skipping server, mails sent by the worker's notification activities to a real SMTP
server (aiosmtpd), recipients read from a seeded database."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import select
from temporalio.client import WorkflowHandle

from domain import contracts as c
from domain.stages import DeclineReason, Role
from domain.validity import paris_day
from notifications.letters import render_letter
from records.models import Epci, MediationStructure, NotificationOutbox, ReceptionStructure
from tests.fixtures.smtp import MailWorld
from tests.fixtures.temporal import (
    EPCI,
    MEDIATION,
    OTHER_MEDIATION,
    RECEPTION,
    entry_assessment,
    session_request,
)
from workflows.digest import CoordinatorDigestWorkflow, DigestInput, DigestSummary

PERSON = "marie.dupont@example.org"


class People:
    def __init__(self, w: MailWorld) -> None:
        self.referrer = w.add_account(
            Role.SOCIAL_WORKER, "lea.martin@ccas.example", "Léa Martin", reception=RECEPTION
        )
        self.colleague = w.add_account(
            Role.SOCIAL_WORKER, "autre@ccas.example", "Jean Autre", reception=RECEPTION
        )
        self.mediator = w.add_account(
            Role.MEDIATOR, "sam@mediatheque.example", "Sam Médiateur", mediation=MEDIATION
        )
        self.other_mediator = w.add_account(
            Role.MEDIATOR, "alex@atelier.example", "Alex Autre", mediation=OTHER_MEDIATION
        )
        self.epci_coordinator = w.add_account(
            Role.COORDINATOR, "paul@rodez-agglo.example", "Paul Bernard", epci=EPCI
        )
        self.programme_coordinator = w.add_account(
            Role.COORDINATOR, "claire@aveyron.example", "Claire Durand"
        )
        self.elsewhere_coordinator = w.add_account(
            Role.COORDINATOR, "nina@millau.example", "Nina Loin", epci=EPCI + 1
        )
        with w.sessions() as session:
            self.structure_mail = session.get(MediationStructure, MEDIATION).email  # type: ignore[union-attr]
            self.other_structure_mail = session.get(MediationStructure, OTHER_MEDIATION).email  # type: ignore[union-attr]
            self.reception_mail = session.get(ReceptionStructure, RECEPTION).email  # type: ignore[union-attr]
        self.actor = c.Actor(Role.SOCIAL_WORKER, str(self.referrer.id))
        self.mediator_actor = c.Actor(Role.MEDIATOR, str(self.mediator.id))


def received(w: MailWorld) -> list[tuple[str, str]]:
    """(address, kind) of every mail since the last call, sorted."""
    return sorted((m.rcpt_tos[0], m.kind) for m in w.smtp.take())


async def expect(w: MailWorld, *pairs: tuple[str, str]) -> None:
    """Exactly these mails since the last call: they came, and the journeys sent all they
    would (none more is on its way)."""
    await w.smtp.wait_for(len(pairs))
    await w.idle()
    got = received(w)
    assert got == sorted(pairs), f"mails: {got}"


async def booklet_holder(w: MailWorld, p: People, **person: object) -> tuple[WorkflowHandle, str]:  # type: ignore[type-arg]
    start = await w.journeys.next_january()
    handle, jid = await w.refer(p.actor, **person)  # type: ignore[arg-type]
    await w.journeys.update(handle, c.U_ASSESS, entry_assessment(p.actor))
    await w.journeys.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(p.actor, start.year))
    await w.smtp.wait_for(2)
    await w.idle()
    w.smtp.take()
    return handle, jid


async def test_referral_mails_the_person_and_the_referrer_only(mail_world: MailWorld) -> None:
    w = mail_world
    p = People(w)
    start = await w.journeys.next_january()
    handle, jid = await w.refer(p.actor)
    await expect(
        w,
        (PERSON, "REFERRAL_RECORDED"),
        ("lea.martin@ccas.example", "REFERRAL_RECORDED"),
    )
    await w.journeys.settle(handle)
    assert {o.status for o in w.journeys.outbox(jid)} == {"SENT"}
    # Assessment and booklet tell nobody.
    await w.journeys.update(handle, c.U_ASSESS, entry_assessment(p.actor))
    await w.journeys.update(handle, c.U_ISSUE_BOOKLET, c.BookletRequest(p.actor, start.year))
    await w.idle()
    assert received(w) == []


async def test_without_account_the_reception_structure_is_told(mail_world: MailWorld) -> None:
    w = mail_world
    p = People(w)
    await w.refer(c.Actor(Role.SOCIAL_WORKER, "not-an-account"))
    await expect(w, (PERSON, "REFERRAL_RECORDED"), (p.reception_mail, "REFERRAL_RECORDED"))  # type: ignore[arg-type]


async def test_a_person_without_email_gets_a_letter_through_the_referrer(
    mail_world: MailWorld,
) -> None:
    w = mail_world
    p = People(w)
    _, jid = await w.refer(p.actor, email=None)
    await expect(
        w,
        ("lea.martin@ccas.example", "REFERRAL_RECORDED"),
        ("lea.martin@ccas.example", "REFERRAL_RECORDED"),
    )
    with w.sessions() as session:
        notice = session.exec(
            select(NotificationOutbox).where(
                NotificationOutbox.journey_id == jid, NotificationOutbox.recipient == "BENEFICIARY"
            )
        ).one()
        assert notice.id is not None
        letter = render_letter(session, notice.id, base_url="https://passnum.test")
    assert "@media print" in letter and "@page" in letter
    assert "Marie Dupont" in letter and "12 rue du Touat" in letter
    assert "Objet : Votre inscription au Pass numérique est enregistrée" in letter
    assert "<p" in letter and "&lt;p" not in letter  # the body is HTML, not escaped twice


async def test_orientation_request_decline_reminder_expiry_and_digest(
    mail_world: MailWorld,
) -> None:
    w = mail_world
    p = People(w)
    handle, jid = await booklet_holder(w, p)
    j = w.journeys
    await j.update(handle, c.U_ORIENT, c.OrientRequest(p.actor, MEDIATION))
    await expect(
        w,
        (p.structure_mail, "ORIENTATION_REQUEST"),  # type: ignore[arg-type]
        ("sam@mediatheque.example", "ORIENTATION_REQUEST"),
    )
    await j.update(
        handle,
        c.U_ANSWER_ORIENTATION,
        c.OrientationAnswer(p.mediator_actor, MEDIATION, False, DeclineReason.NO_CAPACITY),
    )
    await expect(w, ("lea.martin@ccas.example", "ORIENTATION_DECLINED"))
    await j.update(handle, c.U_ORIENT, c.OrientRequest(p.actor, OTHER_MEDIATION))
    await expect(
        w,
        (p.other_structure_mail, "ORIENTATION_REQUEST"),  # type: ignore[arg-type]
        ("alex@atelier.example", "ORIENTATION_REQUEST"),
    )
    await j.advance(timedelta(days=10, hours=1))
    await expect(
        w,
        (p.other_structure_mail, "ORIENTATION_REMINDER"),  # type: ignore[arg-type]
        ("alex@atelier.example", "ORIENTATION_REMINDER"),
        ("lea.martin@ccas.example", "ORIENTATION_REMINDER"),
    )
    await j.advance(timedelta(days=20))
    # Coordinators are not mailed per journey: the stall waits for their digest.
    await expect(w, ("lea.martin@ccas.example", "ORIENTATION_EXPIRED"))
    await j.settle(handle)
    queued = [d for d in w.deliveries(jid) if d.status == "QUEUED"]
    assert sorted(d.address for d in queued) == [
        "claire@aveyron.example",
        "paul@rodez-agglo.example",
    ]

    # A second journey stalls in the same scope: one digest each, listing both.
    handle2, jid2 = await w.refer(p.actor)
    await w.smtp.wait_for(2)
    await w.idle()
    w.smtp.take()
    await j.advance(timedelta(days=20, hours=1))  # reminder at 10 days, stalled at 20
    await expect(
        w,
        ("lea.martin@ccas.example", "STAGE_REMINDER"),
    )
    await j.settle(handle2)
    summary = await j.client.execute_workflow(
        CoordinatorDigestWorkflow.run,
        DigestInput(),
        id=f"digest-{uuid.uuid4()}",
        task_queue=j.task_queue,
        result_type=DigestSummary,
    )
    assert summary.statuses == {"SENT": 2}
    # (Awaiting a workflow lets the test server's clock run: other journeys' mails may come.)
    mails = [m for m in w.smtp.take() if m.kind == "DIGEST"]
    assert sorted(m.rcpt_tos[0] for m in mails) == [
        "claire@aveyron.example",
        "paul@rodez-agglo.example",
    ]
    for mail in mails:
        assert mail.kind == "DIGEST"
        assert "2 parcours nouvellement bloqués" in mail.subject
        text = mail.text()
        for journey_id in (jid, jid2):
            assert f"/parcours/{journey_id}" in text
        assert "Marie" not in text  # no names in coordinators' digests
    with w.sessions() as session:
        scope = session.get(Epci, EPCI).name  # type: ignore[union-attr]
    assert f"({scope})" in next(m for m in mails if "paul" in m.to).text()
    assert "(tout le programme)" in next(m for m in mails if "claire" in m.to).text()
    assert {o.status for o in j.outbox(jid) if o.kind == "JOURNEY_STALLED"} == {"SENT"}
    # The next round has nothing new: nobody is mailed.
    again = await j.client.execute_workflow(
        CoordinatorDigestWorkflow.run,
        DigestInput(),
        id=f"digest-{uuid.uuid4()}",
        task_queue=j.task_queue,
        result_type=DigestSummary,
    )
    assert again.addresses == 0
    # The digest workflow is over: any digest it sent was accepted (and filed) before.
    assert [m for m in w.smtp.take() if m.kind == "DIGEST"] == []


async def test_expiry_warnings_and_closure_with_its_summary(mail_world: MailWorld) -> None:
    w = mail_world
    p = People(w)
    handle, jid = await booklet_holder(w, p)
    j = w.journeys
    await j.update(handle, c.U_ORIENT, c.OrientRequest(p.actor, MEDIATION))
    await w.smtp.wait_for(2)
    await w.idle()
    w.smtp.take()
    status = await j.update(
        handle, c.U_ANSWER_ORIENTATION, c.OrientationAnswer(p.mediator_actor, MEDIATION, True)
    )
    serials = [ch.serial for ch in status.cheques]
    for n in range(3):  # keep the journey active: no stall reminders in the way
        await j.advance(timedelta(days=25))
        day = paris_day(await j.now())
        await j.log_session(
            handle, session_request(serials[n : n + 1], day, actor=p.mediator_actor)
        )
    await w.idle()
    assert received(w) == []
    assert status.valid_until is not None
    warned = ("EXPIRY_WARNING",)
    for days in (30, 15, 7):
        await j.advance_to(status.valid_until - timedelta(days=days) + timedelta(hours=1))
        if days == 30:  # sessions keep it active meanwhile
            day = paris_day(await j.now())
            await j.log_session(handle, session_request(serials[3:4], day, actor=p.mediator_actor))
        # Months without a session before J-30: the trainer was reminded once meanwhile.
        idle = [
            (str(p.structure_mail), "STAGE_REMINDER"),
            ("sam@mediatheque.example", "STAGE_REMINDER"),
        ]
        await expect(
            w,
            *(
                (str(address), warned[0])
                for address in (
                    PERSON,
                    "lea.martin@ccas.example",
                    p.structure_mail,
                    "sam@mediatheque.example",
                )
            ),
            *(idle if days == 30 else []),
        )
    await j.update(handle, c.U_WITHDRAW, c.WithdrawRequest(p.actor, "Déménagement"))
    await w.smtp.wait_for(3)
    await w.idle()
    mails = w.smtp.take()
    assert sorted((m.rcpt_tos[0], m.kind) for m in mails) == sorted(
        [
            ("lea.martin@ccas.example", "JOURNEY_CLOSED"),
            (p.structure_mail, "JOURNEY_CLOSED"),  # type: ignore[list-item]
            ("sam@mediatheque.example", "JOURNEY_CLOSED"),
        ]
    )
    text = next(m for m in mails if m.rcpt_tos[0] == "lea.martin@ccas.example").text()
    assert "Bilan du parcours" in text and "Issue : Sortie du dispositif" in text
    assert "Chèques utilisés : 4 sur 10 (40,00\u00a0€)" in text


async def test_preferences_mute_and_fold_reminders_into_the_digest(
    mail_world: MailWorld,
) -> None:
    w = mail_world
    p = People(w)
    with w.sessions() as session:
        from notifications.preferences import set_preferences

        assert p.referrer.id is not None
        set_preferences(
            session,
            p.referrer.id,
            muted=["CLOSURE", "REFERRAL"],
            reminders_in_digest=True,
        )
        session.commit()
    handle, jid = await w.refer(p.actor)
    await expect(w, (PERSON, "REFERRAL_RECORDED"))  # legally owed to the person, muted for her
    await w.journeys.advance(timedelta(days=10, hours=1))
    await w.idle()
    assert received(w) == []  # the reminder waits for the digest
    await w.journeys.update(handle, c.U_WITHDRAW, c.WithdrawRequest(p.actor, "Ne souhaite plus"))
    await w.idle()
    assert received(w) == []  # closure muted; no mediation structure involved
    statuses = {(d.kind, d.status) for d in w.deliveries(jid)}
    assert ("JOURNEY_CLOSED", "SKIPPED") in statuses
    assert ("STAGE_REMINDER", "QUEUED") in statuses
    summary = await w.journeys.client.execute_workflow(
        CoordinatorDigestWorkflow.run,
        DigestInput(),
        id=f"digest-{uuid.uuid4()}",
        task_queue=w.journeys.task_queue,
        result_type=DigestSummary,
    )
    assert summary.statuses == {"SENT": 1}
    (digest,) = [m for m in w.smtp.take() if m.kind == "DIGEST"]
    assert digest.rcpt_tos == ["lea.martin@ccas.example"]
    assert "1 rappel" in digest.subject
    assert "sans activité depuis 10 jours" in digest.text()
