"""Possible duplicates of a person, one booklet per millésime, idempotency claims: the
normalisation rules, and the records' queries on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import Session, select

from domain import identity
from domain.stages import ChequeStatus, Stage
from records import duplicates, idempotency
from records.db import SessionFactory, alembic_config, begin_write, make_engine
from records.models import Beneficiary, Cheque, Journey
from records.queries import register_beneficiary

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ---- normalisation (domain.identity) ----


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Jean-Pierre", "jeanpierre"),
        ("jean pierre", "jeanpierre"),
        ("JEAN PIERRE", "jeanpierre"),
        ("Hélène", "helene"),
        ("HÉLÈNE", "helene"),
        ("Françoise d'Aubigné", "francoisedaubigne"),
        ("Lætitia Cœur", "laetitiacoeur"),
        ("  Zoé  ", "zoe"),
        ("", ""),
        (None, ""),
    ],
)
def test_names_fold_case_accents_hyphens_and_spaces(typed: str | None, folded: str) -> None:
    assert identity.fold(typed) == folded


def test_name_keys_need_both_names_and_match_either_order() -> None:
    assert identity.name_key("Jean-Pierre", "DUPRÉ") == "jeanpierre|dupre"
    assert identity.name_key("Jean", None) is None
    assert identity.name_keys("Dupré", "Jean Pierre") == ["dupre|jeanpierre", "jeanpierre|dupre"]
    assert identity.name_keys("Anne", "Anne") == ["anne|anne"]
    assert identity.name_keys("", "Bru") == []


@pytest.mark.parametrize(
    "typed",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "0612345678",
        "06-12-34-56-78",
        "+33 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "+33612345678",
        "0033 6 12 34 56 78",
        "33 6 12 34 56 78",
    ],
)
def test_french_phone_numbers_fold_to_ten_digits(typed: str) -> None:
    assert identity.phone_key(typed) == "0612345678"


def test_other_phone_numbers() -> None:
    assert identity.phone_key("05 65 00 00 00") == "0565000000"
    assert identity.phone_key("+32 470 12 34 56") == "+32470123456"
    assert identity.phone_key("0032 470 12 34 56") == "+32470123456"
    assert identity.phone_key("3615") is None  # too short to name anyone
    assert identity.phone_key("") is None
    assert identity.phone_key(None) is None


def test_email_keys_ignore_case_and_spaces() -> None:
    assert identity.email_key("  Marcel.Bru@Exemple.FR ") == "marcel.bru@exemple.fr"
    assert identity.email_key("pas-une-adresse") is None
    assert identity.email_key("@") is None
    assert identity.email_key(None) is None


# ---- records ----


def journey(session: Session, *, programme_code: int = 12, **person: object) -> str:
    """A journey with its person, as a referral and its projection leave them."""
    jid = str(uuid.uuid4())
    session.add(
        Journey(
            id=jid,
            workflow_id=f"journey-{jid}",
            programme_code=programme_code,
            epci_id=1,
            reception_structure_id=1,
            referrer_role="SOCIAL_WORKER",
            referrer_ref="1",
            stage=Stage.REFERRED.value,
            referred_at=NOW,
            updated_at=NOW,
        )
    )
    register_beneficiary(
        session,
        idempotency_key=str(uuid.uuid4()),
        journey_id=jid,
        preferred_channel="POST",
        consent_text="J'accepte.",
        consent_recorded_by="1",
        now=NOW,
        **person,  # type: ignore[arg-type]
    )
    session.flush()
    return jid


def give_booklet(session: Session, journey_id: str, millesime: int, status: ChequeStatus) -> None:
    for number in (1, 2):
        session.add(
            Cheque(
                serial=uuid.uuid4().int.__str__()[:16],
                journey_id=journey_id,
                programme_code=12,
                millesime=millesime,
                booklet_number=1,
                number=number,
                status=status.value,
                updated_at=NOW,
            )
        )
    session.flush()


def found(session: Session, **person: object) -> dict[str, set[str]]:
    """Matched journey id -> the criteria it matched on."""
    matches = duplicates.possible_duplicates(session, programme_code=12, **person)  # type: ignore[arg-type]
    return {m.journey.id: {c.value for c in m.criteria} for m in matches}


def test_possible_duplicates_by_name_and_year_email_or_phone(sessions: SessionFactory) -> None:
    with sessions() as s:
        josette = journey(
            s,
            first_name="Josette",
            last_name="Vidal-Roux",
            birth_year=1948,
            phone="05 65 00 00 00",
            email="Josette.Vidal@exemple.fr",
        )
        other = journey(s, first_name="Marcel", last_name="Bru", birth_year=1950)
        s.commit()

        # Same names folded, same birth year; either order.
        assert found(s, first_name="JOSETTE", last_name="vidal roux", birth_year=1948) == {
            josette: {"NAME_BIRTH_YEAR"}
        }
        assert found(s, first_name="Vidal Roux", last_name="Josette", birth_year=1948) == {
            josette: {"NAME_BIRTH_YEAR"}
        }
        # Another birth year, or none given: the names alone do not match.
        assert found(s, first_name="Josette", last_name="Vidal-Roux", birth_year=1949) == {}
        assert found(s, first_name="Josette", last_name="Vidal-Roux") == {}
        # The e-mail, any case; the phone, any spelling.
        assert found(s, first_name="J", last_name="V", email=" josette.vidal@EXEMPLE.fr") == {
            josette: {"EMAIL"}
        }
        assert found(s, first_name="J", last_name="V", phone="+33 5 65 00 00 00") == {
            josette: {"PHONE"}
        }
        assert found(
            s,
            first_name="Josette",
            last_name="Vidal Roux",
            birth_year=1948,
            phone="0565000000",
        ) == {josette: {"NAME_BIRTH_YEAR", "PHONE"}}
        # Nobody else; the journey being referred is left out.
        assert found(s, first_name="Marcel", last_name="Brus", birth_year=1950) == {}
        assert (
            duplicates.possible_duplicates(
                s,
                programme_code=12,
                first_name="Marcel",
                last_name="Bru",
                birth_year=1950,
                exclude_journey_id=other,
            )
            == []
        )


def test_anonymised_people_and_other_programmes_never_match(sessions: SessionFactory) -> None:
    with sessions() as s:
        gone = journey(s, first_name="Anne", last_name="Puech", birth_year=1960, phone="0611111111")
        elsewhere = journey(
            s, programme_code=81, first_name="Anne", last_name="Puech", birth_year=1960
        )
        s.commit()
        assert set(found(s, first_name="Anne", last_name="Puech", birth_year=1960)) == {gone}
        assert elsewhere not in found(s, first_name="Anne", last_name="Puech", birth_year=1960)

        # Anonymisation erases the names and contact details: the keys go with them.
        s.commit()
        begin_write(s)
        person = s.exec(select(Beneficiary).where(Beneficiary.journey_id == gone)).one()
        assert (person.name_key, person.phone_key) == ("anne|puech", "0611111111")
        person.first_name = person.last_name = person.phone = person.email = None
        person.birth_year = 1960
        person.anonymised_at = NOW
        s.commit()
        s.refresh(person)
        assert (person.name_key, person.email_key, person.phone_key) == (None, None, None)
        assert found(s, first_name="Anne", last_name="Puech", birth_year=1960) == {}
        assert found(s, first_name="A", last_name="P", phone="0611111111") == {}


def test_other_booklets_of_the_same_millesime(sessions: SessionFactory) -> None:
    with sessions() as s:
        first = journey(s, first_name="Léa", last_name="Costes", birth_year=1990)
        again = journey(s, first_name="Lea", last_name="COSTES", birth_year=1990)
        stranger = journey(s, first_name="Paul", last_name="Costes", birth_year=1990)
        s.commit()
        assert duplicates.other_booklets(s, journey_id=again, millesime=2026) == []

        give_booklet(s, stranger, 2026, ChequeStatus.ISSUED)  # not the same person
        give_booklet(s, first, 2025, ChequeStatus.REDEEMED)  # another millésime
        s.commit()
        assert duplicates.other_booklets(s, journey_id=again, millesime=2026) == []

        give_booklet(s, first, 2026, ChequeStatus.CANCELLED)  # withdrawn before any use
        s.commit()
        assert duplicates.other_booklets(s, journey_id=again, millesime=2026) == []

        s.execute(
            text("UPDATE cheque SET status = 'REDEEMED' WHERE journey_id = :j AND number = 1"),
            {"j": first},
        )
        s.commit()
        held = duplicates.other_booklets(s, journey_id=again, millesime=2026)
        assert [m.journey.id for m in held] == [first]
        assert duplicates.other_booklets(s, journey_id=first, millesime=2026) == []


def test_second_booklet_allowance_keeps_the_first_decision(sessions: SessionFactory) -> None:
    with sessions() as s:
        jid = journey(s, first_name="Léa", last_name="Costes")
        row, created = duplicates.allow_second_booklet(s, journey_id=jid, account_id=7, now=NOW)
        s.commit()
        assert created and row.allowed_by == 7
        again, created = duplicates.allow_second_booklet(
            s, journey_id=jid, account_id=8, now=datetime.now(UTC)
        )
        s.commit()
        assert not created and (again.allowed_by, again.allowed_at) == (7, NOW)


def test_idempotency_claims(sessions: SessionFactory) -> None:
    with sessions() as s:
        claim: dict[str, Any] = {"scope": "j1:assess", "key": "form-1", "now": NOW}
        assert idempotency.claim(s, fingerprint="a" * 64, **claim) is True
        s.commit()
        assert idempotency.claim(s, fingerprint="a" * 64, **claim) is False  # the same request
        with pytest.raises(idempotency.KeyReused):
            idempotency.claim(s, fingerprint="b" * 64, **claim)
        # The key is per scope: another Update or another journey may use it.
        assert idempotency.claim(s, fingerprint="b" * 64, scope="j1:orient", key="form-1", now=NOW)
        s.commit()
        # Released (the request was refused): the corrected request may claim it.
        idempotency.release(s, scope="j1:assess", key="form-1", fingerprint="b" * 64)  # not its
        s.commit()
        with pytest.raises(idempotency.KeyReused):
            idempotency.claim(s, fingerprint="b" * 64, **claim)
        idempotency.release(s, scope="j1:assess", key="form-1", fingerprint="a" * 64)
        s.commit()
        assert idempotency.claim(s, fingerprint="b" * 64, **claim) is True
        s.commit()


def test_migration_back_fills_the_keys(empty_database_url: str) -> None:
    cfg = alembic_config(empty_database_url)
    command.upgrade(cfg, "0007")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            for first, last, phone, anonymised in (
                ("Jean-Pierre", "Dupré", "+33 6 12 34 56 78", None),
                (None, None, None, NOW),
            ):
                conn.execute(
                    text(
                        "INSERT INTO beneficiary (journey_id, idempotency_key, first_name, "
                        "last_name, birth_year, phone, email, preferred_channel, "
                        "consent_given_at, consent_text, consent_recorded_by, created_at, "
                        "anonymised_at) VALUES (:j, :k, :f, :l, 1956, :p, :e, 'POST', :t, "
                        "'oui', '1', :t, :a)"
                    ),
                    {
                        "j": str(uuid.uuid4()),
                        "k": str(uuid.uuid4()),
                        "f": first,
                        "l": last,
                        "p": phone,
                        "e": "JP@Exemple.fr" if first else None,
                        "t": NOW,
                        "a": anonymised,
                    },
                )
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT name_key, email_key, phone_key FROM beneficiary "
                    "ORDER BY anonymised_at IS NOT NULL"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("jeanpierre|dupre", "jp@exemple.fr", "0612345678"),
            (None, None, None),
        ]
    finally:
        engine.dispose()
