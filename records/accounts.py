"""Accounts of the professionals who use passnum: passwords, web sessions and API tokens
(login throttling: records.login_throttle).

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). Session and API
tokens are long random strings: only their SHA-256 is stored, which is enough for secrets
that cannot be guessed (no slow hash needed, one indexed lookup per request).

Every function takes a session; writers only flush, the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from domain.stages import Role
from records.models import Account, ApiToken, WebSession

PASSWORD_MIN_LENGTH = 12
API_TOKEN_PREFIX = "pn_"
_HASHER = PasswordHasher()
# last_used_at is written at most this often: a token used a thousand times an hour must
# not cost a thousand writes.
TOKEN_USE_RESOLUTION = timedelta(hours=1)


class AccountError(ValueError):
    """A refused account change; the message is French and shown to the administrator."""


# ---- passwords ----


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches. With no hash (unknown e-mail, account without password)
    a dummy hash is checked all the same, so the answer takes as long either way."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountError(
            f"Le mot de passe doit compter au moins {PASSWORD_MIN_LENGTH} caractères."
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


# ---- accounts ----


def get_account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def get_account_by_email(session: Session, email: str) -> Account | None:
    return session.exec(select(Account).where(Account.email == normalise_email(email))).first()


def list_accounts(session: Session, programme_code: int) -> list[Account]:
    return list(
        session.exec(
            select(Account)
            .where(Account.programme_code == programme_code)
            .order_by(col(Account.role), col(Account.full_name), col(Account.id))
        ).all()
    )


def check_scope(
    role: Role,
    *,
    reception_structure_id: int | None,
    mediation_structure_id: int | None,
    epci_id: int | None,
) -> None:
    """An account's scope must match its role (see Account)."""
    ok = {
        Role.SOCIAL_WORKER: reception_structure_id is not None
        and mediation_structure_id is None
        and epci_id is None,
        Role.MEDIATOR: mediation_structure_id is not None
        and reception_structure_id is None
        and epci_id is None,
        Role.COORDINATOR: reception_structure_id is None and mediation_structure_id is None,
        Role.ADMINISTRATOR: reception_structure_id is None
        and mediation_structure_id is None
        and epci_id is None,
    }.get(role, False)
    if not ok:
        raise AccountError(
            {
                Role.SOCIAL_WORKER: "Un travailleur social appartient à une structure d'accueil.",
                Role.MEDIATOR: "Un médiateur appartient à une structure de médiation.",
                Role.COORDINATOR: "Un coordinateur n'a pour périmètre qu'une intercommunalité "
                "(ou tout le programme).",
                Role.ADMINISTRATOR: "Un administrateur n'a pas de structure.",
            }.get(role, "Rôle inconnu.")
        )


def create_account(
    session: Session,
    *,
    email: str,
    full_name: str,
    role: Role,
    programme_code: int,
    now: datetime,
    password: str | None = None,
    password_hash: str | None = None,
    reception_structure_id: int | None = None,
    mediation_structure_id: int | None = None,
    epci_id: int | None = None,
) -> Account:
    """A new active account. `password` is hashed here (and must be long enough);
    `password_hash` lets a caller hash once for many accounts (demo seed)."""
    check_scope(
        role,
        reception_structure_id=reception_structure_id,
        mediation_structure_id=mediation_structure_id,
        epci_id=epci_id,
    )
    email = normalise_email(email)
    if "@" not in email.strip("@"):
        raise AccountError("Adresse e-mail invalide.")
    if get_account_by_email(session, email) is not None:
        raise AccountError("Un compte existe déjà avec cette adresse e-mail.")
    if password is not None:
        check_password_strength(password)
        password_hash = hash_password(password)
    account = Account(
        email=email,
        full_name=full_name.strip(),
        role=Role(role).value,
        programme_code=programme_code,
        reception_structure_id=reception_structure_id,
        mediation_structure_id=mediation_structure_id,
        epci_id=epci_id,
        password_hash=password_hash,
        is_active=True,
        created_at=now,
    )
    session.add(account)
    session.flush()
    return account


def set_password(session: Session, account: Account, password: str) -> None:
    """Change the password and close the account's open web sessions."""
    check_password_strength(password)
    account.password_hash = hash_password(password)
    session.add(account)
    close_account_sessions(session, account.id)
    session.flush()


def deactivate(session: Session, account: Account, *, now: datetime) -> None:
    """The account can no longer sign in; its sessions close and its tokens are revoked."""
    account.is_active = False
    session.add(account)
    close_account_sessions(session, account.id)
    session.execute(
        update(ApiToken)
        .where(col(ApiToken.account_id) == account.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.flush()


def names_by_ref(session: Session, refs: Iterable[str]) -> dict[str, str]:
    """Full names of the accounts behind actor references (`Actor.ref` is the account id);
    references that are not account ids are left out."""
    ids = {int(r) for r in refs if r.isdigit()}
    if not ids:
        return {}
    rows = session.exec(select(Account.id, Account.full_name).where(col(Account.id).in_(ids))).all()
    return {str(id_): name for id_, name in rows}


# ---- web sessions ----


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_web_session(
    session: Session,
    account: Account,
    *,
    now: datetime,
    lifetime: timedelta,
    address: str | None,
    oidc_id_token: str | None = None,
) -> str:
    """A new session for a signed-in account; returns the cookie value (never stored).
    `oidc_id_token`: the ID token of an OpenID Connect sign-in (the provider's logout hint)."""
    assert account.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_digest(token),
            account_id=account.id,
            created_at=now,
            expires_at=now + lifetime,
            address=(address or "")[:64] or None,
            oidc_id_token=oidc_id_token,
        )
    )
    # Expired sessions of this account go now: no cron needed.
    session.execute(
        delete(WebSession).where(
            col(WebSession.account_id) == account.id, col(WebSession.expires_at) <= now
        )
    )
    account.last_login_at = now
    session.add(account)
    session.flush()
    return token


def web_session_account(
    session: Session, token: str, *, now: datetime
) -> tuple[Account, int | None] | None:
    """The active account of a live session and the programme the session chose (None: the
    account's own), or None."""
    found = session.exec(
        select(Account, WebSession.programme_code)
        .join(WebSession, col(WebSession.account_id) == col(Account.id))
        .where(
            WebSession.token_hash == token_digest(token),
            col(WebSession.expires_at) > now,
            col(Account.is_active).is_(True),
        )
    ).first()
    return None if found is None else (found[0], found[1])


def close_web_session(session: Session, token: str) -> str | None:
    """End a session; returns its OpenID Connect ID token, if it was opened that way."""
    digest = token_digest(token)
    id_token = session.exec(
        select(WebSession.oidc_id_token).where(WebSession.token_hash == digest)
    ).first()
    session.execute(delete(WebSession).where(col(WebSession.token_hash) == digest))
    session.flush()
    return id_token


# ---- OpenID Connect sign-in: linking a provider's person to an account ----


class OidcRefusal(StrEnum):
    """Why an OpenID Connect sign-in opens no session (api.oidc words each in French)."""

    UNKNOWN = "unknown"  # no account has this e-mail: no self-signup
    UNVERIFIED = "unverified"  # the provider has not verified the e-mail
    INACTIVE = "inactive"  # the account is deactivated
    OTHER_SUBJECT = "other_subject"  # the account is linked to another provider identity


def account_for_oidc(
    session: Session, *, subject: str, email: str | None, email_verified: bool
) -> Account | OidcRefusal:
    """The account an OpenID Connect sign-in opens: the one linked to `subject`, else (first
    sign-in) the one whose e-mail the provider verified, which gets linked. Flushes."""
    account = session.exec(select(Account).where(Account.oidc_subject == subject)).first()
    if account is None:
        if not email:
            return OidcRefusal.UNKNOWN
        if not email_verified:
            return OidcRefusal.UNVERIFIED
        account = get_account_by_email(session, email)
        if account is None:
            return OidcRefusal.UNKNOWN
        if account.oidc_subject is not None:
            return OidcRefusal.OTHER_SUBJECT
        if not account.is_active:
            return OidcRefusal.INACTIVE
        account.oidc_subject = subject
        session.add(account)
        session.flush()
        return account
    if not account.is_active:
        return OidcRefusal.INACTIVE
    return account


def close_account_sessions(session: Session, account_id: int | None) -> None:
    session.execute(delete(WebSession).where(col(WebSession.account_id) == account_id))


# ---- personal API tokens ----


def issue_api_token(
    session: Session, account: Account, *, label: str, now: datetime, created_by: int | None
) -> tuple[ApiToken, str]:
    """A new token for `account`; returns the row and the secret, shown once."""
    if not account.is_active:
        raise AccountError("Ce compte est désactivé.")
    assert account.id is not None
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        account_id=account.id,
        label=label.strip()[:100] or "Jeton",
        token_hash=token_digest(secret),
        prefix=secret[:10],
        created_at=now,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, secret


def api_token_account(session: Session, secret: str) -> tuple[ApiToken, Account] | None:
    """The token and its active account if the token is valid (not revoked), else None."""
    found = session.exec(
        select(ApiToken, Account)
        .join(Account, col(Account.id) == col(ApiToken.account_id))
        .where(
            ApiToken.token_hash == token_digest(secret),
            col(ApiToken.revoked_at).is_(None),
            col(Account.is_active).is_(True),
        )
    ).first()
    return None if found is None else (found[0], found[1])


def token_use_stale(token: ApiToken, now: datetime) -> bool:
    """Whether the token's last use is worth writing down again (see TOKEN_USE_RESOLUTION)."""
    return token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RESOLUTION


def note_token_use(session: Session, token_id: int, *, now: datetime) -> None:
    session.execute(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))


def list_api_tokens(session: Session, account_id: int) -> list[ApiToken]:
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.account_id == account_id)
            .order_by(col(ApiToken.created_at), col(ApiToken.id))
        ).all()
    )


def get_api_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def revoke_api_token(session: Session, token: ApiToken, *, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        session.flush()
