"""Possible duplicates of a person in a programme, and the one-booklet-per-millésime rule.

A person referred twice (another form, another structure) would get two journeys, two
booklets and two welcome mails. At referral the API asks `possible_duplicates`; before a
booklet is issued, `other_booklets`. Both compare the folded identity the records keep
beside what was typed (domain.identity; records.models.Beneficiary.name_key, email_key,
phone_key, indexed): same names (either order) and birth year, or same e-mail, or same
phone. Only people not anonymised count, in open or closed journeys of the programme.

What a caller may show of a match is decided by the API (api/access.py scope): matches
carry the journey's access facts, not the other person's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, union
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from domain import identity
from domain.labels import Labelled, labels
from domain.stages import ChequeStatus, Stage
from records.models import Beneficiary, Cheque, Journey, SecondBookletAllowance
from records.queries import ACCESS_COLUMNS, JourneyAccess

MAX_MATCHES = 20
# People sharing a key looked at, at most (a phone number shared by a whole family...).
MAX_CANDIDATES = 200


class Criterion(Labelled):
    NAME_BIRTH_YEAR = "NAME_BIRTH_YEAR"
    EMAIL = "EMAIL"
    PHONE = "PHONE"


labels(
    Criterion,
    {
        Criterion.NAME_BIRTH_YEAR: "mêmes nom, prénom et année de naissance",
        Criterion.EMAIL: "même adresse e-mail",
        Criterion.PHONE: "même numéro de téléphone",
    },
)


@dataclass(frozen=True)
class Match:
    """Another journey whose person may be the same one, and on what."""

    journey: JourneyAccess
    criteria: tuple[Criterion, ...]
    referred_at: datetime | None


@dataclass(frozen=True)
class _Keys:
    names: list[str]
    birth_year: int | None
    email: str | None
    phone: str | None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.names and self.birth_year is not None:
            found.append(
                and_(
                    col(Beneficiary.name_key).in_(self.names),
                    col(Beneficiary.birth_year) == self.birth_year,
                )
            )
        if self.email:
            found.append(col(Beneficiary.email_key) == self.email)
        if self.phone:
            found.append(col(Beneficiary.phone_key) == self.phone)
        return found

    def criteria(
        self, name: str | None, birth_year: int | None, email: str | None, phone: str | None
    ) -> tuple[Criterion, ...]:
        out = []
        if name in self.names and birth_year is not None and birth_year == self.birth_year:
            out.append(Criterion.NAME_BIRTH_YEAR)
        if self.email and email == self.email:
            out.append(Criterion.EMAIL)
        if self.phone and phone == self.phone:
            out.append(Criterion.PHONE)
        return tuple(out)


_COLUMNS: tuple[Any, ...] = (*ACCESS_COLUMNS, Journey.referred_at)
_KEY_COLUMNS: tuple[Any, ...] = (
    col(Beneficiary.name_key),
    col(Beneficiary.birth_year),
    col(Beneficiary.email_key),
    col(Beneficiary.phone_key),
)


def _matches(
    session: Session, programme_code: int, keys: _Keys, exclude_journey_id: str | None
) -> list[Match]:
    conditions = keys.conditions()
    if not conditions:
        return []
    # First the people, one indexed lookup per criterion united; then their journeys by
    # primary key. In one query the planner may rather scan the programme's journeys (SQLite
    # does, without statistics): 30 ms instead of a fraction of one for 50,000 people.
    people = session.execute(
        union(
            *(
                sa_select(col(Beneficiary.journey_id), *_KEY_COLUMNS).where(
                    condition, col(Beneficiary.anonymised_at).is_(None)
                )
                for condition in conditions
            )
        ).limit(MAX_CANDIDATES)
    ).all()
    found = {row[0]: keys.criteria(*row[1:]) for row in people if row[0] != exclude_journey_id}
    if not found:
        return []
    journeys = session.execute(
        sa_select(*_COLUMNS)
        .where(
            col(Journey.id).in_(list(found)),
            col(Journey.programme_code) == programme_code,
            col(Journey.anonymised_at).is_(None),
            col(Journey.stage) != Stage.ANONYMISED.value,
        )
        .order_by(col(Journey.referred_at).desc(), col(Journey.id))
        .limit(MAX_MATCHES)
    ).all()
    return [
        Match(journey=JourneyAccess(*row[:-1]), criteria=found[row[0]], referred_at=row[-1])
        for row in journeys
    ]


def possible_duplicates(
    session: Session,
    *,
    programme_code: int,
    first_name: str | None,
    last_name: str | None,
    birth_year: int | None = None,
    email: str | None = None,
    phone: str | None = None,
    exclude_journey_id: str | None = None,
) -> list[Match]:
    """Journeys of the programme whose person may be this one, most recent first (at most
    MAX_MATCHES). One query, on indexes."""
    keys = _Keys(
        names=identity.name_keys(first_name, last_name),
        birth_year=birth_year,
        email=identity.email_key(email),
        phone=identity.phone_key(phone),
    )
    return _matches(session, programme_code, keys, exclude_journey_id)


def other_booklets(session: Session, *, journey_id: str, millesime: int) -> list[Match]:
    """Other journeys in which the person of `journey_id` (as far as the match rule tells)
    holds a booklet of `millesime` that was not cancelled (at least one cheque issued,
    spent or expired). Two queries."""
    row = session.execute(
        sa_select(
            col(Journey.programme_code),
            col(Beneficiary.name_key),
            col(Beneficiary.birth_year),
            col(Beneficiary.email_key),
            col(Beneficiary.phone_key),
        )
        .select_from(Beneficiary)
        .join(Journey, col(Journey.id) == col(Beneficiary.journey_id))
        .where(col(Beneficiary.journey_id) == journey_id, col(Beneficiary.anonymised_at).is_(None))
    ).first()
    if row is None:
        return []
    programme_code, name, birth_year, email, phone = row
    first, _, last = (name or "").partition("|")
    names = list(dict.fromkeys([name, f"{last}|{first}"])) if name else []
    found = _matches(session, programme_code, _Keys(names, birth_year, email, phone), journey_id)
    if not found:
        return []
    holding = set(
        session.execute(
            sa_select(col(Cheque.journey_id))
            .where(
                col(Cheque.journey_id).in_([m.journey.id for m in found]),
                col(Cheque.millesime) == millesime,
                col(Cheque.status) != ChequeStatus.CANCELLED.value,
            )
            .distinct()
        ).scalars()
    )
    return [m for m in found if m.journey.id in holding]


def second_booklet_allowance(session: Session, journey_id: str) -> SecondBookletAllowance | None:
    return session.get(SecondBookletAllowance, journey_id)


def allow_second_booklet(
    session: Session, *, journey_id: str, account_id: int, now: datetime
) -> tuple[SecondBookletAllowance, bool]:
    """Record a coordinator's leave for a second booklet; (row, created). Allowing again
    keeps the first decision (who and when)."""
    existing = second_booklet_allowance(session, journey_id)
    if existing is not None:
        return existing, False
    row = SecondBookletAllowance(journey_id=journey_id, allowed_by=account_id, allowed_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.get(SecondBookletAllowance, journey_id, populate_existing=True)
        if existing is None:
            raise
        return existing, False
    return row, True
