"""The consent wording's versions (records/consent.py) as the API and the pages use them:
the version in force for a referral (a caller naming an older one is refused), and an
administrator publishing a new wording (audit-logged in the same unit of work)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Session

from api.auth import User
from api.errors import ApiError
from domain.rights import CONSENT_TEXT_MAX, AuditAction
from records import audit, consent
from records.models import ConsentVersion

MSG_OUTDATED = (
    "Le texte de consentement a changé depuis (version {current} en vigueur) : "
    "lisez le nouveau texte à la personne et recueillez son accord sur celui-ci."
)
MSG_SAME_WORDING = "Ce texte est déjà celui en vigueur : il n'y a rien à publier."
MSG_PUBLISHED_MEANWHILE = (
    "Une autre version vient d'être publiée : relisez le texte en vigueur avant de publier."
)


class ConsentVersionOut(BaseModel):
    version: int
    wording: str
    valid_from: datetime
    in_force: bool

    @classmethod
    def of(cls, row: ConsentVersion, in_force: bool) -> ConsentVersionOut:
        return cls(
            version=row.version, wording=row.wording, valid_from=row.valid_from, in_force=in_force
        )


class ConsentWordingIn(BaseModel):
    wording: str = Field(
        min_length=20,
        max_length=CONSENT_TEXT_MAX,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
        description="The new wording read to the person at referral",
    )


def version_for_referral(session: Session, asked: int | None) -> ConsentVersion:
    """The version a referral's consent pins: the one in force; 409 if the caller showed
    the person another one."""
    current = consent.current(session)
    if asked is not None and asked != current.version:
        raise ApiError(
            409,
            "consent_version_outdated",
            MSG_OUTDATED.format(current=current.version),
            {"current_version": current.version},
        )
    return current


def versions(session: Session) -> list[ConsentVersionOut]:
    rows = consent.all_versions(session)
    return [ConsentVersionOut.of(r, i == 0) for i, r in enumerate(rows)]


def publish(session: Session, user: User, wording: str, now: datetime) -> ConsentVersion:
    """A new version in force from now, and its audit entry (409 if the wording is the one
    in force: a double submit publishes once)."""
    try:
        row = consent.publish(session, wording=wording, at=now, by=user.id)
    except consent.SameWording:
        raise ApiError(409, "same_wording", MSG_SAME_WORDING) from None
    except consent.PublishedMeanwhile:
        raise ApiError(409, "conflict", MSG_PUBLISHED_MEANWHILE) from None
    audit.record(
        session,
        at=now,
        programme_code=user.programme_code,
        account_id=user.id,
        action=AuditAction.CONSENT_PUBLISHED,
        target=f"consent:{row.version}",
        details={"version": row.version, "characters": len(row.wording)},
    )
    return row
