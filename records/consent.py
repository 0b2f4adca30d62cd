"""Versions of the consent wording read to the person at referral.

The highest version is in force: a referral pins it (`Beneficiary.consent_version`); an
administrator publishes a new wording as the next version (audit-logged by the caller).
Published versions are never changed. Version 1 is seeded by migration 0015.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.rights import INITIAL_CONSENT_TEXT
from records.models import ConsentVersion


def current(session: Session) -> ConsentVersion:
    """The version in force (version 1, the initial wording, if none was ever written)."""
    row = session.exec(select(ConsentVersion).order_by(col(ConsentVersion.version).desc())).first()
    if row is not None:
        return row
    return ConsentVersion(
        version=1, wording=INITIAL_CONSENT_TEXT, valid_from=datetime(2020, 1, 1, tzinfo=UTC)
    )


def get(session: Session, version: int) -> ConsentVersion | None:
    found = session.get(ConsentVersion, version)
    if found is None and version == 1 and current(session).version == 1:
        return current(session)  # a database where no version was ever written
    return found


def all_versions(session: Session) -> list[ConsentVersion]:
    """Every version, the one in force first."""
    rows = list(
        session.exec(select(ConsentVersion).order_by(col(ConsentVersion.version).desc())).all()
    )
    return rows or [current(session)]


class SameWording(Exception):
    """The wording published is the one in force: nothing to publish."""


class PublishedMeanwhile(Exception):
    """Another administrator published a version at the same moment."""


def publish(session: Session, *, wording: str, at: datetime, by: int | None) -> ConsentVersion:
    """The next version, in force from `at` (callers take the write lock first: two
    administrators publishing at once get distinct versions, or one a conflict)."""
    wording = wording.strip()
    now_in_force = current(session)
    if wording == now_in_force.wording.strip():
        raise SameWording
    row = ConsentVersion(
        version=now_in_force.version + 1, wording=wording, valid_from=at, published_by=by
    )
    try:
        with session.begin_nested():  # a concurrent publication took this version number
            session.add(row)
    except IntegrityError:
        raise PublishedMeanwhile from None
    return row
