"""OpenID Connect sign-in (ProConnect, or any OpenID Provider) next to local passwords.

The authorisation code flow with PKCE (S256), `state` and `nonce`:

1. `begin`: discovery (`<issuer>/.well-known/openid-configuration`, cached an hour), a new
   state, nonce and PKCE verifier, kept in a short-lived cookie sealed with an HMAC of the
   secret key (nothing stored server-side); the browser goes to the provider.
2. `finish` (the provider sends the browser back with `code` and `state`): the cookie's
   state must match; the code is exchanged with the verifier (client secret: HTTP Basic);
   the ID token's signature is checked against the provider's JWKS, then `iss`, `aud`,
   `exp`, `iat`, `sub` and the cookie's `nonce`; the e-mail comes from the userinfo endpoint
   (JSON or signed JWT, as ProConnect answers) whose `sub` must be the ID token's.
3. records.accounts.account_for_oidc links the person to an account: by subject, else (first
   sign-in) by the e-mail the provider verified. No self-signup: an unknown person gets a
   French explanation and whom to ask.

authlib builds the authorisation request and the PKCE challenge; joserfc (authlib's JOSE
library) verifies the tokens. Any failure raises `OidcRefused` with a French message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from config import Settings
from records.accounts import OidcRefusal

PENDING_COOKIE = "passnum_oidc"  # the sealed state, nonce and verifier of a sign-in under way
PENDING_SECONDS = 600
START_PATH = "/connexion/oidc"
CALLBACK_PATH = "/connexion/oidc/retour"
LOGGED_OUT_PATH = "/connexion"
DISCOVERY_SECONDS = 3600
ALGORITHMS = ["RS256", "PS256", "ES256"]
CLOCK_LEEWAY_SECONDS = 60

FAILED = (
    "La connexion par votre fournisseur d'identité n'a pas pu être vérifiée (réponse "
    "invalide, altérée ou expirée) : recommencez depuis la page de connexion."
)
CANCELLED = (
    "La connexion a été annulée ou refusée chez votre fournisseur d'identité : recommencez "
    "depuis la page de connexion, ou connectez-vous avec votre mot de passe."
)
UNREACHABLE = (
    "Le fournisseur d'identité ne répond pas : réessayez dans quelques minutes, ou "
    "connectez-vous avec votre mot de passe."
)
ASK_ADMIN = "l'administrateur de votre programme Pass numérique"


class OidcRefused(Exception):
    """`counts`: a failure the client is answerable for, counted by the sign-in throttle
    (not a cancellation, nor an unreachable or unconfigured provider)."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        *,
        counts: bool = True,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.counts = counts
        self.retry_after = retry_after  # seconds, for a throttled sign-in (429)


def refusal_message(refusal: OidcRefusal, email: str | None) -> str:
    """Why the person signed in at the provider gets no passnum session, in French."""
    if refusal is OidcRefusal.UNKNOWN:
        return (
            f"Aucun compte passnum n'est ouvert à l'adresse {email or '(non transmise)'}. "
            "passnum ne crée pas de compte à la connexion : demandez à "
            f"{ASK_ADMIN} de vous ouvrir un compte à cette adresse."
        )
    if refusal is OidcRefusal.UNVERIFIED:
        return (
            "Votre fournisseur d'identité n'a pas vérifié votre adresse e-mail : passnum ne "
            f"peut pas la relier à un compte. Faites-la vérifier, ou demandez à {ASK_ADMIN}."
        )
    if refusal is OidcRefusal.INACTIVE:
        return f"Votre compte passnum est désactivé : adressez-vous à {ASK_ADMIN}."
    return (
        "Ce compte passnum est déjà relié à une autre identité chez le fournisseur : "
        f"adressez-vous à {ASK_ADMIN}."
    )


@dataclass(frozen=True)
class Provider:
    """What discovery tells of the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Identity:
    """A verified sign-in: who the provider says it is, and where the person was going."""

    subject: str
    email: str | None
    email_verified: bool
    id_token: str
    next_path: str


_discovered: dict[str, tuple[float, Provider]] = {}


def redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def issuer_origin(settings: Settings) -> str | None:
    """The provider's origin (scheme://host[:port]), for the pages' form-action: logging out
    (a form) ends at the provider."""
    if not settings.oidc_issuer:
        return None
    parts = urlsplit(settings.oidc_issuer)
    return f"{parts.scheme}://{parts.netloc}"


def _http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.oidc_timeout_s, follow_redirects=False)


async def discover(settings: Settings) -> Provider:
    issuer = settings.oidc_issuer
    if not issuer:
        raise OidcRefused(
            "La connexion par fournisseur d'identité n'est pas configurée.", 404, counts=False
        )
    cached = _discovered.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with _http(settings) as http:
            answer = await http.get(url)
        answer.raise_for_status()
        doc = answer.json()
        provider = Provider(
            issuer=doc["issuer"],
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            userinfo_endpoint=doc.get("userinfo_endpoint"),
            end_session_endpoint=doc.get("end_session_endpoint"),
        )
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise OidcRefused(UNREACHABLE, 502, counts=False) from error
    if provider.issuer != issuer:  # OpenID Connect Discovery 1.0, section 4.3
        raise OidcRefused(UNREACHABLE, 502, counts=False)
    _discovered[issuer] = (time.monotonic() + DISCOVERY_SECONDS, provider)
    return provider


# ---- the pending sign-in's cookie: JSON sealed with an HMAC of the secret key ----


def _mac(settings: Settings, body: str) -> str:
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, f"oidc:{body}".encode(), hashlib.sha256).hexdigest()


def seal(settings: Settings, data: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{body}.{_mac(settings, body)}"


def unseal(settings: Settings, value: str | None, now: float) -> dict[str, Any] | None:
    """The sealed data, or None if missing, altered or expired."""
    if not value or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(settings, body)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < now:
        return None
    return data


# ---- the flow ----


async def begin(settings: Settings, next_path: str) -> tuple[str, str]:
    """The provider's authorisation URL, and the pending cookie's value."""
    provider = await discover(settings)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = prepare_grant_uri(
        provider.authorization_endpoint,
        settings.oidc_client_id,
        "code",
        redirect_uri=redirect_uri(settings),
        scope=settings.oidc_scopes,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    pending = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": next_path,
        "exp": int(time.time()) + PENDING_SECONDS,
    }
    return url, seal(settings, pending)


def verify_id_token(
    settings: Settings, provider: Provider, keys: KeySet, id_token: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": settings.oidc_client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError) as error:
        raise OidcRefused(FAILED) from error
    audience = token.claims.get("aud")
    several = isinstance(audience, list) and len(audience) > 1
    if several and token.claims.get("azp") != settings.oidc_client_id:
        raise OidcRefused(FAILED)
    return dict(token.claims)


async def finish(
    settings: Settings,
    *,
    pending_cookie: str | None,
    code: str | None,
    state: str | None,
    error: str | None,
) -> Identity:
    """Check the provider's answer (see the module docstring); the verified identity."""
    pending = unseal(settings, pending_cookie, time.time())
    if pending is None or not state or not hmac.compare_digest(state, str(pending["state"])):
        raise OidcRefused(FAILED)
    if error:
        raise OidcRefused(CANCELLED, counts=False)
    if not code:
        raise OidcRefused(FAILED)
    provider = await discover(settings)
    secret = settings.oidc_client_secret.get_secret_value()
    try:
        async with _http(settings) as http:
            answer = await http.post(
                provider.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri(settings),
                    "code_verifier": str(pending["verifier"]),
                },
                auth=(settings.oidc_client_id, secret),
                headers={"Accept": "application/json"},
            )
            if answer.status_code != 200:
                raise OidcRefused(FAILED)
            tokens = answer.json()
            keys = KeySet.import_key_set((await http.get(provider.jwks_uri)).json())
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise OidcRefused(FAILED)
            claims = verify_id_token(settings, provider, keys, id_token, str(pending["nonce"]))
            if provider.userinfo_endpoint and isinstance(tokens.get("access_token"), str):
                info = await http.get(
                    provider.userinfo_endpoint,
                    headers={"Authorization": f"Bearer {tokens['access_token']}"},
                )
                if info.status_code != 200:
                    raise OidcRefused(FAILED)
                claims = {**claims, **_userinfo(settings, provider, keys, info, claims["sub"])}
    except httpx.HTTPError as failure:
        raise OidcRefused(UNREACHABLE, 502, counts=False) from failure
    except (ValueError, JoseError) as failure:
        raise OidcRefused(FAILED) from failure
    email = claims.get("email")
    return Identity(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) else None,
        email_verified=email_verified(settings, claims),
        id_token=id_token,
        next_path=str(pending.get("next") or "/"),
    )


def email_verified(settings: Settings, claims: dict[str, Any]) -> bool:
    """Whether the provider vouches for the e-mail: `email_verified` true, or (the setting
    oidc_email_verified_by_provider, for ProConnect, whose scope `email` carries no
    `email_verified`) no such claim at all. An explicit false is never overridden."""
    claim = claims.get("email_verified")
    if claim is None:
        return settings.oidc_email_verified_by_provider
    return claim is True


def _userinfo(
    settings: Settings, provider: Provider, keys: KeySet, answer: httpx.Response, subject: Any
) -> dict[str, Any]:
    """The userinfo claims (JSON, or a JWT signed by the provider); its sub must be the ID
    token's (OpenID Connect Core 1.0, section 5.3.2)."""
    if answer.headers.get("content-type", "").startswith("application/jwt"):
        token = jwt.decode(answer.text.strip(), keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": settings.oidc_client_id},
        ).validate(token.claims)
        claims = dict(token.claims)
    else:
        claims = answer.json()
    if not isinstance(claims, dict) or claims.get("sub") != subject:
        raise OidcRefused(FAILED)
    return {k: v for k, v in claims.items() if k in ("email", "email_verified")}


async def logout_url(settings: Settings, id_token: str) -> str | None:
    """Where the browser goes to end its session at the provider too (RP-initiated logout),
    or None when the provider has no end_session_endpoint."""
    try:
        provider = await discover(settings)
    except OidcRefused:
        return None
    if not provider.end_session_endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.oidc_client_id,
            "post_logout_redirect_uri": settings.public_base_url.rstrip("/") + LOGGED_OUT_PATH,
            "state": generate_token(16),
        }
    )
    separator = "&" if "?" in provider.end_session_endpoint else "?"
    return f"{provider.end_session_endpoint}{separator}{query}"
