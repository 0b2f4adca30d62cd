"""Who is calling: web sessions (cookie), personal API tokens (Bearer), CSRF, login.

Pages and the JSON API authenticate the same way, through one dependency:

    async def page(user: CurrentUser) -> ...     # 401 (API) or redirect to login (pages)
    async def page(user: OptionalUser) -> ...    # None when anonymous

A request authenticated by its session cookie that changes something (POST, PUT, PATCH,
DELETE) must carry the session's CSRF token: the `csrf_token` form field (every HTML form,
see `csrf_input` in templates) or the `X-CSRF-Token` header (scripts; `GET /api/v1/me`
gives the token). Bearer-token requests need none: browsers never send them on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api import oidc
from api.deps import AppState, State
from api.errors import ApiError
from config import Settings
from domain.contracts import Actor
from domain.stages import Role
from domain.validity import PARIS
from records import accounts, login_throttle, memberships
from records.models import Account, ApiToken

SESSION_COOKIE = "passnum_session"
ANON_COOKIE = "passnum_anon"  # an anonymous visitor's key, for the login form's CSRF token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSRF_MESSAGE = (
    "Ce formulaire a expiré ou ne vient pas de passnum : rechargez la page et recommencez."
)


@dataclass(frozen=True)
class User:
    """The signed-in account in its current programme, as routes and templates see it: role
    and scope are the account's in that programme (records.memberships)."""

    id: int
    email: str
    full_name: str
    role: Role
    programme_code: int
    reception_structure_id: int | None
    mediation_structure_id: int | None
    epci_id: int | None
    via: Literal["session", "token"]
    csrf_token: str | None  # None for token calls
    # (code, name) of every programme the account works in, when more than one: the header's
    # chooser. Empty for an account of one programme.
    programmes: tuple[tuple[int, str], ...] = ()

    @property
    def programme_codes(self) -> tuple[int, ...]:
        """Every programme the account works in."""
        return tuple(code for code, _ in self.programmes) or (self.programme_code,)

    @property
    def actor(self) -> Actor:
        """Who acts, for the workflow and the transition log."""
        return Actor(role=self.role, ref=str(self.id))

    @classmethod
    def of(
        cls,
        account: Account,
        via: Literal["session", "token"],
        csrf_token: str | None,
        membership: memberships.Membership | None = None,
        programmes: tuple[tuple[int, str], ...] = (),
    ) -> User:
        assert account.id is not None
        m = membership or memberships.own(account)
        return cls(
            id=account.id,
            email=account.email,
            full_name=account.full_name,
            role=m.role,
            programme_code=m.programme_code,
            reception_structure_id=m.reception_structure_id,
            mediation_structure_id=m.mediation_structure_id,
            epci_id=m.epci_id,
            via=via,
            csrf_token=csrf_token,
            programmes=programmes,
        )


class NotAuthenticated(Exception):
    """No valid session or token: 401 for the API, the login page for pages."""


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---- CSRF ----


def csrf_token_for(settings: Settings, key: str) -> str:
    """The CSRF token of a session (or anonymous) key: an HMAC, so nothing is stored."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"csrf:{key}".encode(), hashlib.sha256).hexdigest()


async def check_csrf(request: Request, expected: str) -> None:
    """403 unless the request carries `expected` in its header or its form."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(CSRF_FIELD)  # Starlette caches the parsed form
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise ApiError(403, "csrf_failed", CSRF_MESSAGE)


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def anonymous_csrf(request: Request, settings: Settings) -> tuple[str, str | None]:
    """The anonymous visitor's CSRF token, and a new key to set as cookie if they had none."""
    key = request.cookies.get(ANON_COOKIE)
    new_key = None
    if not key:
        key = new_key = secrets.token_urlsafe(24)
    return csrf_token_for(settings, key), new_key


# ---- cookies ----


def cookie_secure(request: Request, settings: Settings) -> bool:
    return settings.cookie_secure or request.url.scheme == "https"


def set_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    max_age: int | None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )


def clear_cookie(response: Response, request: Request, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=cookie_secure(request, settings)
    )


# ---- authentication per request ----


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


Programmes = tuple[tuple[int, str], ...]
PROGRAMME_HEADER = "X-Passnum-Programme"  # a token call's programme; default: the account's own


def _working(
    session: Session, account: Account, chosen: int | None
) -> tuple[memberships.Membership | None, Programmes]:
    """The account's membership in the `chosen` programme (None when it is not a member),
    and the (code, name) of its programmes when it has more than one."""
    every = memberships.all_of(session, account)
    wanted = account.programme_code if chosen is None else chosen
    current = next((m for m in every if m.programme_code == wanted), None)
    if len(every) == 1:
        return current, ()
    names = memberships.programme_names(session, [m.programme_code for m in every])
    return current, tuple((m.programme_code, names.get(m.programme_code, "")) for m in every)


def _programme_header(request: Request) -> int | None:
    value = request.headers.get(PROGRAMME_HEADER)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ApiError(
            422, "programme_invalid", f"{PROGRAMME_HEADER} : un code de programme est attendu."
        )
    return int(value)


async def authenticate(request: Request, state: AppState) -> User | None:
    """The caller's account in its current programme, or None. One unit of work (two for a
    token whose last use is stale). Cached on `request.state.user` for the error pages.

    A session works in the programme chosen in the header (its own programme's if access to
    the chosen one was withdrawn since); a token call in the one its `X-Passnum-Programme`
    header names (403 unless the account works there), else the account's own."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    user: User | None = None
    now = now_utc()
    token = _bearer(request)
    if token is not None:
        asked = _programme_header(request)

        def read_token(
            session: Session,
        ) -> tuple[ApiToken, Account, memberships.Membership | None, Programmes] | None:
            found = accounts.api_token_account(session, token)
            if found is None:
                return None
            return (*found, *_working(session, found[1], asked))

        read = await state.db.run(read_token)
        if read is not None:
            api_token, account, membership, programmes = read
            if membership is None:
                raise ApiError(
                    403,
                    "programme_forbidden",
                    "Ce compte n'a pas accès à ce programme.",
                )
            if accounts.token_use_stale(api_token, now):
                token_id = api_token.id
                assert token_id is not None
                await state.db.run(
                    lambda s: accounts.note_token_use(s, token_id, now=now), write=True
                )
            user = User.of(account, "token", None, membership, programmes)
    elif cookie := request.cookies.get(SESSION_COOKIE):

        def read_session(
            session: Session,
        ) -> tuple[Account, memberships.Membership | None, Programmes] | None:
            found = accounts.web_session_account(session, cookie, now=now)
            if found is None:
                return None
            account, chosen = found
            membership, programmes = _working(session, account, chosen)
            if membership is None:  # access withdrawn: back to its own programme
                membership, programmes = _working(session, account, None)
            return account, membership, programmes

        signed_in = await state.db.run(read_session)
        if signed_in is not None:
            account, membership, programmes = signed_in
            csrf = csrf_token_for(state.settings, cookie)
            user = User.of(account, "session", csrf, membership, programmes)
    request.state.user = user
    return user


async def optional_user(request: Request, state: State) -> User | None:
    return await authenticate(request, state)


# The two ways in, declared for the OpenAPI document (security schemes, Swagger's
# "Authorize"); `authenticate` reads the header and the cookie itself.
TOKEN_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="Jeton personnel (`pn_…`), émis par un administrateur",
)
SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="Session des pages (connexion) ; sur les modifications, envoyer aussi "
    "l'en-tête X-CSRF-Token (voir GET /api/v1/me)",
)


async def require_user(
    request: Request,
    state: State,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(TOKEN_SCHEME)] = None,
    _session: Annotated[str | None, Security(SESSION_SCHEME)] = None,
) -> User:
    user = await authenticate(request, state)
    if user is None:
        raise NotAuthenticated()
    if request.method not in SAFE_METHODS and user.via == "session":
        assert user.csrf_token is not None
        await check_csrf(request, user.csrf_token)
    return user


async def require_reader(
    request: Request,
    state: State,
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(TOKEN_SCHEME)] = None,
    _session: Annotated[str | None, Security(SESSION_SCHEME)] = None,
) -> User:
    """Like `require_user` without the CSRF check, for a POST that changes nothing and
    whose answer only allowed origins may read (CORS): the Temporal UI's codec endpoint,
    which the UI calls with the session cookie and no CSRF token."""
    user = await authenticate(request, state)
    if user is None:
        raise NotAuthenticated()
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(require_user)]
ReadingUser = Annotated[User, Depends(require_reader)]


# ---- login and logout ----


class LoginRefused(Exception):
    def __init__(self, message: str, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after  # seconds, for a throttled attempt (429)


def throttle_rule(settings: Settings) -> login_throttle.ThrottleRule:
    return login_throttle.ThrottleRule(
        window=timedelta(minutes=settings.login_window_minutes),
        pair_free=settings.login_pair_free_failures,
        address_free=settings.login_address_free_failures,
        address_max=settings.login_address_max_failures,
        account_free=settings.login_account_free_failures,
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        known_for=timedelta(days=settings.login_known_address_days),
    )


_THROTTLED = {
    "pair": "Trop de tentatives de connexion à ce compte depuis cette adresse",
    "address": "Trop de tentatives de connexion depuis votre adresse réseau",
    "account": "Trop de tentatives de connexion à ce compte depuis des adresses inhabituelles",
}


def oidc_throttle_rule(settings: Settings) -> login_throttle.ThrottleRule:
    """Failed OpenID Connect sign-ins, per address only (records.login_throttle)."""
    return login_throttle.ThrottleRule(
        kind="oidc",
        window=timedelta(minutes=settings.login_window_minutes),
        pair_free=None,
        address_free=settings.oidc_free_failures,
        address_max=settings.oidc_max_failures,
        account_free=None,
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        known_for=timedelta(days=settings.login_known_address_days),
    )


def reset_throttle_rule(settings: Settings) -> login_throttle.ThrottleRule:
    """Password-reset requests: hard caps per e-mail and per address, no delays."""
    window = timedelta(minutes=settings.reset_window_minutes)
    return login_throttle.ThrottleRule(
        kind="reset",
        window=window,
        pair_free=None,
        address_free=None,
        address_max=settings.reset_max_per_address,
        account_free=None,
        account_max=settings.reset_max_per_email,
        max_delay=window,
        known_for=window,
    )


def wait_phrase(refusal: login_throttle.Refusal, now: datetime) -> tuple[str, int]:
    """How long to wait and until when, in French (« 4 minutes (à partir de 10:12:00) »),
    and the seconds (Retry-After)."""
    seconds = max(1, math.ceil((refusal.until - now).total_seconds()))
    if seconds < 60:
        wait = f"{seconds} seconde{'s' if seconds > 1 else ''}"
    elif seconds < 2 * 3600:
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{'s' if minutes > 1 else ''}"
    else:
        wait = f"{math.ceil(seconds / 3600)} heures"
    local = refusal.until.astimezone(PARIS)
    at = (
        f"{local:%H:%M:%S}"
        if local.date() == now.astimezone(PARIS).date()
        else (f"{local:%d/%m/%Y} à {local:%H:%M:%S}")
    )
    return f"{wait} (à partir de {at})", seconds


def throttled(refusal: login_throttle.Refusal, now: datetime) -> LoginRefused:
    """The French refusal of a throttled attempt: how long to wait, and until when."""
    wait, seconds = wait_phrase(refusal, now)
    return LoginRefused(
        f"{_THROTTLED[refusal.scope]} : réessayez dans {wait}. "
        "Mot de passe oublié ? Demandez un lien par courriel (« Mot de passe oublié ? » ci-dessous).",
        429,
        retry_after=seconds,
    )


async def login(state: AppState, *, email: str, password: str, address: str) -> str:
    """Check a password login; returns the new session's cookie value. Throttled per
    (account, address), per address and per account (records.login_throttle), counted in
    the database so that every replica agrees; refused logins raise LoginRefused with a
    French message."""
    settings = state.settings
    rule = throttle_rule(settings)
    email = accounts.normalise_email(email)
    now = now_utc()

    def reserve(session: Session) -> tuple[login_throttle.Refusal | int, Account | None]:
        reserved = login_throttle.reserve_attempt(
            session, email=email, address=address, now=now, rule=rule
        )
        return reserved, accounts.get_account_by_email(session, email)

    reserved, account = await state.db.run(reserve, write=True)
    if isinstance(reserved, login_throttle.Refusal):
        raise throttled(reserved, now)
    attempt_id = reserved
    usable = account is not None and account.is_active
    # argon2 is slow on purpose: keep it off the event loop.
    matches = await anyio.to_thread.run_sync(
        accounts.verify_password, account.password_hash if account and usable else None, password
    )
    if not (account is not None and usable and matches):
        raise LoginRefused("Adresse e-mail ou mot de passe incorrect.", 401)
    signed_in = account

    def record(session: Session) -> str:
        login_throttle.record_success(session, attempt_id)
        return accounts.open_web_session(
            session,
            signed_in,
            now=now,
            lifetime=timedelta(hours=settings.session_hours),
            address=address,
        )

    return await state.db.run(record, write=True)


OIDC_THROTTLED = (
    "Trop de connexions par fournisseur d'identité ont échoué depuis votre adresse réseau : "
    "réessayez dans {wait}, ou connectez-vous avec votre mot de passe."
)


def _oidc_throttled(refusal: login_throttle.Refusal, now: datetime) -> oidc.OidcRefused:
    wait, seconds = wait_phrase(refusal, now)
    return oidc.OidcRefused(
        OIDC_THROTTLED.format(wait=wait), 429, counts=False, retry_after=seconds
    )


async def check_oidc_throttle(state: AppState, *, address: str) -> None:
    """Before sending the browser to the provider: refused (OidcRefused, 429) while this
    address must wait (records.login_throttle, kind "oidc")."""
    rule = oidc_throttle_rule(state.settings)
    now = now_utc()
    refusal = await state.db.run(
        lambda s: login_throttle.wait_until(s, email="", address=address, now=now, rule=rule)
    )
    if refusal is not None:
        raise _oidc_throttled(refusal, now)


async def reserve_oidc_attempt(state: AppState, *, address: str) -> int:
    """A provider's answer comes back: counted as a failure from `address` before anything
    is checked or the provider called (parallel answers cannot all slip through one
    opening); its id, for `forget_oidc_attempt` or `login_oidc`. Throttled: OidcRefused."""
    rule = oidc_throttle_rule(state.settings)
    now = now_utc()
    reserved = await state.db.run(
        lambda s: login_throttle.reserve_attempt(s, email="", address=address, now=now, rule=rule),
        write=True,
    )
    if isinstance(reserved, login_throttle.Refusal):
        raise _oidc_throttled(reserved, now)
    return reserved


async def forget_oidc_attempt(state: AppState, attempt_id: int) -> None:
    await state.db.run(lambda s: login_throttle.forget_attempt(s, attempt_id), write=True)


async def login_oidc(
    state: AppState, identity: oidc.Identity, *, address: str, attempt_id: int | None = None
) -> str:
    """Open a session for a verified OpenID Connect sign-in (api.oidc); returns the cookie
    value. The account is found by subject, else linked by verified e-mail; no account is
    ever created (OidcRefused, in French, says whom to ask). A session opened forgets the
    throttle's reservation `attempt_id`; a refusal leaves it counted."""
    settings = state.settings
    now = now_utc()

    def open_session(session: Session) -> str | accounts.OidcRefusal:
        found = accounts.account_for_oidc(
            session,
            subject=identity.subject,
            email=identity.email,
            email_verified=identity.email_verified,
        )
        if isinstance(found, accounts.OidcRefusal):
            return found
        if attempt_id is not None:
            login_throttle.forget_attempt(session, attempt_id)
        return accounts.open_web_session(
            session,
            found,
            now=now,
            lifetime=timedelta(hours=settings.session_hours),
            address=address,
            oidc_id_token=identity.id_token,
        )

    opened = await state.db.run(open_session, write=True)
    if isinstance(opened, accounts.OidcRefusal):
        raise oidc.OidcRefused(oidc.refusal_message(opened, identity.email), 403)
    return opened


async def logout(state: AppState, cookie: str | None) -> str | None:
    """End the session; returns its OpenID Connect ID token, if it was opened that way."""
    if cookie:
        return await state.db.run(lambda s: accounts.close_web_session(s, cookie), write=True)
    return None


def client_address(request: Request) -> str:
    """The client's address as uvicorn sees it (X-Forwarded-For is honoured only from the
    proxies uvicorn trusts: --forwarded-allow-ips / FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "inconnue"
