"""One-time links mailed to professionals: an administrator's invitation (choose a first
password, 7 days) and a password reset the person asks for (1 hour).

The link carries a long random token; only its SHA-256 is stored (records.accounts does the
same for sessions). A link expires, serves once (marked used by a conditional UPDATE, so two
submits at once cannot both use it), and issuing a new one for the same account and purpose
ends the previous ones.

Every function takes a session; writers only flush, the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from records import accounts
from records.accounts import token_digest
from records.models import Account, AccountLink

LINK_PATH = "/compte/lien/"


class LinkPurpose(StrEnum):
    INVITATION = "INVITATION"
    RESET = "RESET"


LIFETIMES = {LinkPurpose.INVITATION: timedelta(days=7), LinkPurpose.RESET: timedelta(hours=1)}
# A reset asked again this soon mails nothing more: nobody floods a mailbox through passnum.
RESET_COOLDOWN = timedelta(minutes=2)


class LinkRefusal(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


REFUSALS = {
    LinkRefusal.UNKNOWN: "Ce lien n'est pas valide : vérifiez qu'il est complet, ou demandez-en "
    "un nouveau.",
    LinkRefusal.EXPIRED: "Ce lien a expiré : demandez-en un nouveau (« Mot de passe oublié ? » "
    "sur la page de connexion, ou à l'administrateur de votre programme pour une invitation).",
    LinkRefusal.USED: "Ce lien a déjà servi : il ne vaut qu'une fois. Connectez-vous avec votre "
    "mot de passe, ou demandez un nouveau lien.",
}


def issue_link(
    session: Session,
    account: Account,
    purpose: LinkPurpose,
    *,
    now: datetime,
    created_by: int | None = None,
) -> tuple[AccountLink, str]:
    """A new link for `account`, ending its earlier unused ones of the same purpose; the row
    and the token to mail (never stored). Flushes."""
    assert account.id is not None
    session.execute(
        update(AccountLink)
        .where(
            col(AccountLink.account_id) == account.id,
            col(AccountLink.purpose) == purpose.value,
            col(AccountLink.used_at).is_(None),
            col(AccountLink.expires_at) > now,
        )
        .values(expires_at=now)
    )
    token = secrets.token_urlsafe(32)
    link = AccountLink(
        token_hash=token_digest(token),
        account_id=account.id,
        purpose=purpose.value,
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
        created_by=created_by,
    )
    session.add(link)
    session.flush()
    return link, token


def asked_recently(session: Session, account: Account, *, now: datetime) -> bool:
    """Whether a reset link was issued to `account` less than RESET_COOLDOWN ago."""
    return (
        session.exec(
            select(AccountLink.id).where(
                AccountLink.account_id == account.id,
                AccountLink.purpose == LinkPurpose.RESET.value,
                col(AccountLink.created_at) > now - RESET_COOLDOWN,
            )
        ).first()
        is not None
    )


def find_link(
    session: Session, token: str, *, now: datetime
) -> tuple[AccountLink, Account] | LinkRefusal:
    """The usable link of `token` and its active account, or why not."""
    found = session.exec(
        select(AccountLink, Account)
        .join(Account, col(Account.id) == AccountLink.account_id)
        .where(AccountLink.token_hash == token_digest(token))
    ).first()
    if found is None or not found[1].is_active:
        return LinkRefusal.UNKNOWN
    link, account = found
    if link.used_at is not None:
        return LinkRefusal.USED
    if link.expires_at <= now:
        return LinkRefusal.EXPIRED
    return link, account


def use_link(
    session: Session, token: str, password_hash: str, *, now: datetime
) -> Account | LinkRefusal:
    """Set the account's password (hashed by the caller: accounts.hash_password, off the
    write transaction) through its link, which then serves no more; the account's sessions
    are closed. Flushes."""
    found = find_link(session, token, now=now)
    if isinstance(found, LinkRefusal):
        return found
    link, account = found
    marked = session.execute(
        update(AccountLink)
        .where(col(AccountLink.id) == link.id, col(AccountLink.used_at).is_(None))
        .values(used_at=now)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        return LinkRefusal.USED
    account.password_hash = password_hash
    session.add(account)
    accounts.close_account_sessions(session, account.id)
    session.flush()
    return account
