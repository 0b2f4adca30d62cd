"""The person's rights and the audit log on the records, on SQLite and PostgreSQL: the
audit log refuses UPDATE and DELETE (database triggers), consent versions are published
and pinned, a rectification logs which fields changed (not their old values) and
recomputes the duplicate keys, and the access export says everything held, field by field.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import select

import cli
from api.person_rights import build_export
from domain import identity
from domain.rights import INITIAL_CONSENT_TEXT, AuditAction, RectifiableField, RectificationReason
from domain.serials import booklet_serials
from records import audit, consent, person_rights, queries
from records import free_texts as free_text_records
from records.db import SessionFactory, make_engine, session_factory
from records.models import (
    Account,
    AdminAudit,
    Assessment,
    Beneficiary,
    BookletAllocation,
    Channel,
    Cheque,
    ConsentVersion,
    Journey,
    MailDelivery,
    MediationStructure,
    NotificationOutbox,
    Orientation,
    PersonRectification,
    ReceptionStructure,
    TrainingSession,
    TransitionLog,
)
from records.seed import seed_default_programme
from tests.fixtures.database import count

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
JID = "0b6f6a52-1111-4222-8333-944444444444"


def _audit_row(sessions: SessionFactory) -> int:
    with sessions() as s:
        row = audit.record(
            s,
            at=T0,
            programme_code=12,
            account_id=5,
            action=AuditAction.TOKEN_ISSUED,
            target="token:3",
            details={"label": "export", "token": "pn_secret", "password": "x"},
        )
        s.commit()
        assert row.id is not None
        return row.id


def test_the_audit_log_refuses_updates_and_deletes(sessions: SessionFactory) -> None:
    entry = _audit_row(sessions)
    statements = [
        "UPDATE admin_audit SET action = 'ACCOUNT_CREATED' WHERE id = :id",
        "UPDATE admin_audit SET details = '{}'",
        "DELETE FROM admin_audit WHERE id = :id",
        "DELETE FROM admin_audit",
    ]
    with sessions() as s:
        if s.get_bind().dialect.name == "postgresql":
            statements.append("TRUNCATE admin_audit")
    for sql in statements:
        with sessions() as s, pytest.raises(DatabaseError, match="ajout seul"):
            s.execute(text(sql), {"id": entry})
            s.commit()
    # Through the ORM too.
    with sessions() as s:
        row = s.get(AdminAudit, entry)
        assert row is not None
        row.target = "token:4"
        with pytest.raises(DatabaseError):
            s.commit()
    with sessions() as s:
        row = s.get(AdminAudit, entry)
        assert row is not None
        s.delete(row)
        with pytest.raises(DatabaseError):
            s.commit()
    with sessions() as s:
        row = s.get(AdminAudit, entry)
        assert row is not None
        assert (row.action, row.target) == ("TOKEN_ISSUED", "token:3")
        assert row.details == {"label": "export"}  # secrets never logged
    assert count(sessions, AdminAudit) == 1
    _audit_row(sessions)  # appending still works
    assert count(sessions, AdminAudit) == 2


def test_consent_versions_are_published_in_order_and_never_the_same_twice(
    sessions: SessionFactory,
) -> None:
    with sessions() as s:
        first = consent.current(s)
        assert (first.version, first.wording) == (1, INITIAL_CONSENT_TEXT)  # seeded
        second = consent.publish(s, wording="  Nouveau texte lu à la personne.  ", at=T0, by=7)
        assert (second.version, second.wording, second.published_by) == (
            2,
            "Nouveau texte lu à la personne.",
            7,
        )
        with pytest.raises(consent.SameWording):
            consent.publish(s, wording="Nouveau texte lu à la personne.", at=T0, by=7)
        s.commit()
    with sessions() as s:
        assert consent.current(s).version == 2
        assert [v.version for v in consent.all_versions(s)] == [2, 1]
        v1 = consent.get(s, 1)
        assert v1 is not None and v1.wording == INITIAL_CONSENT_TEXT


def _person(**changes: object) -> Beneficiary:
    values: dict[str, object] = {
        "journey_id": JID,
        "idempotency_key": "form-1",
        "first_name": "Josette",
        "last_name": "Fabre",
        "birth_year": 1951,
        "phone": "05 65 00 11 22",
        "email": "josette.fabre@exemple.fr",
        "postal_address": "3 rue du Touat, 12000 Rodez",
        "commune": "Rodez",
        "preferred_channel": Channel.EMAIL.value,
        "consent_given_at": T0,
        "consent_text": INITIAL_CONSENT_TEXT,
        "consent_version": 1,
        "consent_recorded_by": "1",
        "created_at": T0,
    }
    return Beneficiary(**(values | changes))  # type: ignore[arg-type]


def test_a_rectification_logs_the_fields_not_their_old_values(sessions: SessionFactory) -> None:
    with sessions() as s:
        s.add(_person())
        s.commit()
    with sessions() as s:
        person = queries.get_beneficiary(s, JID)
        assert person is not None
        changes = {
            RectifiableField.FIRST_NAME: "Josiane",
            RectifiableField.LAST_NAME: "Fabre-Cazals",
            RectifiableField.BIRTH_YEAR: 1951,  # unchanged
            RectifiableField.PHONE: "06 12 34 56 78",
            RectifiableField.EMAIL: "j.cazals@exemple.fr",
            RectifiableField.POSTAL_ADDRESS: "3 rue du Touat, 12000 Rodez",  # unchanged
            RectifiableField.COMMUNE: "Rodez",
            RectifiableField.PREFERRED_CHANNEL: Channel.PHONE.value,
        }
        row = person_rights.rectify(
            s,
            person,
            changes,
            reason=RectificationReason.CIVIL_STATUS_CHANGED,
            account_id=3,
            actor_role="SOCIAL_WORKER",
            at=T0,
        )
        assert row is not None
        s.commit()
        # The same values again: nothing to correct, nothing logged.
        assert (
            person_rights.rectify(
                s,
                person,
                changes,
                reason=RectificationReason.TYPING_ERROR,
                account_id=3,
                actor_role="SOCIAL_WORKER",
                at=T0,
            )
            is None
        )
        s.commit()
    with sessions() as s:
        person = queries.get_beneficiary(s, JID)
        assert person is not None
        assert (person.first_name, person.last_name) == ("Josiane", "Fabre-Cazals")
        assert (person.phone, person.email) == ("06 12 34 56 78", "j.cazals@exemple.fr")
        assert person.preferred_channel == "PHONE"
        # The duplicate check's keys follow the corrected identity.
        assert person.name_key == identity.name_key("Josiane", "Fabre-Cazals")
        assert person.email_key == identity.email_key("j.cazals@exemple.fr")
        assert person.phone_key == identity.phone_key("06 12 34 56 78")
        logged = s.exec(select(PersonRectification)).all()
        assert len(logged) == 1
        assert logged[0].fields == [
            "first_name",
            "last_name",
            "phone",
            "email",
            "preferred_channel",
        ]
        assert logged[0].reason == "CIVIL_STATUS_CHANGED"
        assert (logged[0].account_id, logged[0].actor_role, logged[0].at) == (
            3,
            "SOCIAL_WORKER",
            T0,
        )
        stored = repr(logged[0].model_dump())
        for old in ("Josette", "05 65 00 11 22", "josette.fabre@exemple.fr"):
            assert old not in stored  # the old values are gone, not kept aside


def _seed_journey(sessions: SessionFactory) -> dict[str, int]:
    """A journey in training with everything a person's file can hold."""
    with sessions() as s:
        seed_default_programme(s)
        s.flush()
        reception = s.exec(select(ReceptionStructure)).first()
        mediation = s.exec(select(MediationStructure)).first()
        assert reception and mediation and reception.id and mediation.id
        s.add(
            Journey(
                id=JID,
                workflow_id=f"journey-{JID}",
                programme_code=12,
                epci_id=reception.epci_id,
                reception_structure_id=reception.id,
                referrer_role="SOCIAL_WORKER",
                referrer_ref="1",
                stage="IN_TRAINING",
                referred_at=T0,
                assessed_at=T0,
                booklet_issued_at=T0,
                oriented_at=T0,
                training_started_at=T0,
                mediation_structure_id=mediation.id,
                millesime=2026,
                booklet_number=123,
                cheques_total=10,
                cheques_redeemed=2,
                updated_at=T0,
            )
        )
        s.flush()
        s.add(_person())
        s.add(
            Assessment(
                journey_id=JID,
                kind="ENTRY",
                tool="LES_BONS_CLICS",
                autonomy="BEGINNER",
                needs=["EMAIL", "SMARTPHONE"],
                at=T0,
            )
        )
        s.add(
            Orientation(
                orientation_id="o-1",
                journey_id=JID,
                mediation_structure_id=mediation.id,
                status="ACCEPTED",
                since=T0,
                answered_at=T0,
            )
        )
        s.add(
            BookletAllocation(journey_id=JID, programme_code=12, millesime=2026, booklet_number=123)
        )
        serials = booklet_serials(12, 2026, 123, 10)
        for k, x in enumerate(serials):
            redeemed = k < 2
            s.add(
                Cheque(
                    serial=x.digits,
                    journey_id=JID,
                    programme_code=12,
                    millesime=2026,
                    booklet_number=123,
                    number=x.cheque_number,
                    status="REDEEMED" if redeemed else "ISSUED",
                    session_id="s-1" if redeemed else None,
                    redeemed_on=date(2026, 3, 2) if redeemed else None,
                    mediation_structure_id=mediation.id if redeemed else None,
                    updated_at=T0,
                    security_code="sealed-code-never-shown",
                )
            )
        s.add(
            TrainingSession(
                session_id="s-1",
                journey_id=JID,
                mediation_structure_id=mediation.id,
                day=date(2026, 3, 2),
                duration_minutes=90,
                kind="INDIVIDUAL",
                place="ON_SITE",
                themes=["EMAIL"],
                serials=[x.digits for x in serials[:2]],
                logged_at=T0,
            )
        )
        for seq, (action, reason) in enumerate(
            [("REFERRED", None), ("NUDGED", "Merci de rappeler Mme Fabre au 05 65 00 11 22")],
            start=1,
        ):
            s.add(
                TransitionLog(
                    journey_id=JID,
                    seq=seq,
                    at=T0,
                    actor_role="SOCIAL_WORKER",
                    actor_ref="1",
                    action=action,
                    to_stage="IN_TRAINING",
                    reason=reason,
                )
            )
        outbox = NotificationOutbox(
            idempotency_key=f"{JID}:1:REFERRAL_RECORDED:BENEFICIARY",
            journey_id=JID,
            kind="REFERRAL_RECORDED",
            recipient="BENEFICIARY",
            created_at=T0,
            status="SENT",
        )
        s.add(outbox)
        s.flush()
        s.add(
            MailDelivery(
                idempotency_key=outbox.idempotency_key,
                address="josette.fabre@exemple.fr",
                outbox_id=outbox.id,
                journey_id=JID,
                kind="REFERRAL_RECORDED",
                audience="BENEFICIARY",
                category="BENEFICIARY",
                status="SENT",
                message_id="<m1@passnum.test>",
                subject="Votre inscription est enregistrée",
                created_at=T0,
                sent_at=T0,
            )
        )
        s.add(
            PersonRectification(
                journey_id=JID,
                at=T0,
                account_id=1,
                actor_role="SOCIAL_WORKER",
                fields=["phone"],
                reason="CONTACT_CHANGED",
            )
        )
        s.commit()
        return {"reception": reception.id, "mediation": mediation.id}


def test_the_access_export_says_everything_held_field_by_field(sessions: SessionFactory) -> None:
    ids = _seed_journey(sessions)
    with sessions() as s:
        journey = s.get(Journey, JID)
        assert journey is not None
        reception = s.get(ReceptionStructure, ids["reception"])
        mediation = s.get(MediationStructure, ids["mediation"])
        assert reception and mediation
        d = build_export(s, journey, T0)
    p = d.person
    assert p is not None
    assert (p.first_name, p.last_name, p.birth_year) == ("Josette", "Fabre", 1951)
    assert (p.phone, p.email) == ("05 65 00 11 22", "josette.fabre@exemple.fr")
    assert (p.postal_address, p.commune) == ("3 rue du Touat, 12000 Rodez", "Rodez")
    assert (p.preferred_channel, p.preferred_channel_label) == ("EMAIL", "Courriel")
    assert (p.recorded_at, p.anonymised_at) == (T0, None)
    k = d.consent
    assert k is not None
    assert (k.given_at, k.version, k.version_wording) == (T0, 1, INITIAL_CONSENT_TEXT)
    assert k.text_recorded == INITIAL_CONSENT_TEXT
    j = d.journey
    assert (j.id, j.stage, j.stage_label) == (JID, "IN_TRAINING", "En formation")
    assert (j.reception_structure, j.mediation_structure) == (reception.name, mediation.name)
    assert j.referred_at == T0 and j.closed_at is None
    [a] = d.assessments
    assert (a.kind_label, a.autonomy_label, a.at) == ("Diagnostic initial", "Débutant", T0)
    assert len(a.needs_labels) == 2
    [o] = d.orientations
    assert (o.mediation_structure, o.status, o.status_label) == (
        mediation.name,
        "ACCEPTED",
        "Acceptée",
    )
    [b] = d.booklets
    assert (b.booklet_number, b.millesime, b.lost_on) == (123, 2026, None)
    assert len(d.cheques) == 10
    first = d.cheques[0]
    assert first.serial == booklet_serials(12, 2026, 123, 10)[0].display  # 012-2026-000123-01-x
    assert (first.status, first.status_label, first.redeemed_on) == (
        "REDEEMED",
        "Encaissé",
        date(2026, 3, 2),
    )
    assert first.mediation_structure == mediation.name
    assert [c.status for c in d.cheques].count("ISSUED") == 8
    assert "sealed-code-never-shown" not in d.model_dump_json()  # never the security codes
    [sess] = d.sessions
    assert (sess.day, sess.duration_minutes, sess.mediation_structure) == (
        date(2026, 3, 2),
        90,
        mediation.name,
    )
    assert sess.cheques == [c.serial for c in d.cheques[:2]]
    [m] = d.mails
    assert (m.kind, m.to, m.subject, m.sent_at) == (
        "Orientation enregistrée",
        "josette.fabre@exemple.fr",
        "Votre inscription est enregistrée",
        T0,
    )
    [letter] = d.letters
    assert (letter.kind, letter.created_at) == ("Orientation enregistrée", T0)
    assert [t.label for t in d.timeline] == [
        "Orientation vers le Pass numérique",
        "Relance par la coordination",
    ]
    assert d.timeline[1].reason == "Merci de rappeler Mme Fabre au 05 65 00 11 22"
    [x] = d.rectifications
    assert (x.fields, x.fields_labels, x.reason_label) == (
        ["phone"],
        ["Téléphone"],
        "Changement de coordonnées",
    )
    [free] = d.free_texts
    assert (free.source, free.text) == (
        "timeline:2",
        "Merci de rappeler Mme Fabre au 05 65 00 11 22",
    )


def test_the_command_line_administrator_is_in_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`passnum create-admin`: the account and its entry (no administrator acted: the
    command line), in one transaction."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PASSNUM_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("un mot de passe assez long\n"))
    # An administrator of a programme the database does not have: refused.
    assert cli.run(["create-admin", "--email", "Root@Exemple.fr", "--name", "Admin"]) == 1
    assert "aucun programme n'a le code 12" in capsys.readouterr().err
    assert cli.run(["seed"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("un mot de passe assez long\n"))
    assert cli.run(["create-admin", "--email", "Root@Exemple.fr", "--name", "Admin"]) == 0
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            [entry] = s.exec(select(AdminAudit)).all()
            account = s.exec(select(Account)).one()
    finally:
        engine.dispose()
    assert (entry.action, entry.account_id, entry.target) == (
        "ACCOUNT_CREATED",
        None,
        f"account:{account.id}",
    )
    assert entry.details == {
        "email": "root@exemple.fr",
        "role": "ADMINISTRATOR",
        "with_password": True,
    }


def test_free_texts_are_erased_with_the_person_and_passnums_own_reasons_kept(
    sessions: SessionFactory,
) -> None:
    _seed_journey(sessions)
    with sessions() as s:
        s.add(
            TransitionLog(
                journey_id=JID,
                seq=3,
                at=T0,
                actor_role="SYSTEM",
                actor_ref="passnum",
                action="STALLED",
                to_stage="IN_TRAINING",
                reason="Aucune séance depuis 30 jours",
            )
        )
        s.commit()
    with sessions() as s:
        assert [t.source for t in person_rights.free_texts(s, JID)] == ["timeline:2"]
        free_text_records.erase_journey(s, JID, T0)
        s.commit()
    with sessions() as s:
        reasons = [r.reason for r in queries.journey_timeline(s, JID)]
        assert reasons == [None, None, "Aucune séance depuis 30 jours"]
        assert person_rights.free_texts(s, JID) == []


def test_two_publications_at_once_get_one_version_number(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of two publications racing for version 2 (it read version 1 as in force)
    is refused, and its unit of work stays usable."""
    with sessions() as s:
        stale = consent.current(s)
        consent.publish(s, wording="Premier texte publié au même moment.", at=T0, by=1)
        s.commit()
    monkeypatch.setattr(consent, "current", lambda session: stale)
    with sessions() as s:
        with pytest.raises(consent.PublishedMeanwhile):
            consent.publish(s, wording="Second texte publié au même moment.", at=T0, by=2)
        assert s.exec(select(ConsentVersion.version)).all()  # still usable
    monkeypatch.undo()
    with sessions() as s:
        assert [(v.version, v.published_by) for v in consent.all_versions(s)] == [
            (2, 1),
            (1, None),
        ]
