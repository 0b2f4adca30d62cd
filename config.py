"""All settings, from environment variables prefixed PASSNUM_ (documented in README.md).

Defaults are the embedded ones: everything on this machine, data under ./.data.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.contracts import TASK_QUEUE
from records.cheque_codes import DEV_CHEQUE_CODE_KEY, CodeVault
from records.keyring import Keyring, parse_secrets

# Accepted only in dev mode, and only while the API listens on this machine alone.
DEV_SECRET_KEY = "dev-only-secret-key-not-for-production-use-passnum"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Encrypts every Temporal payload (temporal_client.EncryptionCodec); dev mode only.
DEV_PAYLOAD_KEY = "dev-only-temporal-payload-key-not-for-production-use-passnum"
PAYLOAD_KEY_INFO = b"passnum temporal payloads"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSNUM_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Embedded mode's data folder")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = TASK_QUEUE
    temporal_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    programme_code: int = Field(
        default=12,
        description="Default programme: the one `passnum seed` creates, the command line acts on "
        "and the demo fills (each request works in its account's current programme)",
    )
    # Search attributes need a Temporal server with visibility; the time-skipping test server
    # has none.
    use_search_attributes: bool = True

    # ---- web app: accounts, sessions, login throttling ----
    environment: Literal["dev", "production"] = Field(
        default="dev",
        description="dev: demo accounts and the placeholder secret are allowed (loopback only)",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Signs CSRF tokens; at least 32 characters outside dev mode",
    )
    cookie_secure: bool = Field(
        default=False,
        description="Always mark cookies Secure (they are whenever the request is HTTPS)",
    )
    session_hours: int = Field(default=12, ge=1, le=24 * 30, description="Web session lifetime")
    # Login throttling (records.login_throttle): free failures per scope, then delays
    # doubling from 2 s up to login_max_delay_seconds.
    login_window_minutes: int = Field(
        default=24 * 60, ge=1, description="Failed logins count within this window"
    )
    login_pair_free_failures: int = Field(
        default=3, ge=1, description="Failures for one account from one address before delays"
    )
    login_address_free_failures: int = Field(
        default=10, ge=1, description="Failures from one address (any account) before delays"
    )
    login_address_max_failures: int = Field(
        default=100, ge=1, description="Failures from one address within the window: refused"
    )
    login_account_free_failures: int = Field(
        default=10,
        ge=1,
        description="Failures on one account from addresses not known for it before delays",
    )
    login_max_delay_seconds: int = Field(
        default=900, ge=1, description="Longest wait between two attempts"
    )
    login_known_address_days: int = Field(
        default=30,
        ge=1,
        description="An address the account signed in from within these days is known",
    )
    # Password-reset requests (records.login_throttle, kind "reset"): hard caps per e-mail
    # typed (account or not) and per address; past them a request mails nothing.
    reset_window_minutes: int = Field(
        default=60, ge=1, description="Password-reset requests count within this window"
    )
    reset_max_per_email: int = Field(
        default=3,
        ge=1,
        description="Reset requests for one e-mail within the window (more: no mail, "
        "the same answer)",
    )
    reset_max_per_address: int = Field(
        default=10,
        ge=1,
        description="Reset requests from one address within the window (more: refused, "
        "French message)",
    )

    # ---- OpenID Connect sign-in (ProConnect or any OpenID Provider), next to passwords ----
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Provider's issuer URL (discovery at <issuer>/.well-known/"
        "openid-configuration); none: sign-in by password only",
    )
    oidc_client_id: str = Field(default="", description="passnum's client id at the provider")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""), description="passnum's client secret at the provider"
    )
    oidc_scopes: str = Field(
        default="openid email", description="Scopes asked (space-separated; openid and email)"
    )
    oidc_button_label: str = Field(
        default="Se connecter avec ProConnect", description="Label of the login page's button"
    )
    oidc_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of each call to the provider"
    )
    oidc_email_verified_by_provider: bool = Field(
        default=False,
        description="First sign-in: link by the provider's e-mail even without an "
        "email_verified claim (true for ProConnect, which sends none: its identity "
        "providers vouch for the address); email_verified false still refuses",
    )
    # Failed sign-ins through the provider (records.login_throttle, kind "oidc"), per
    # address, within login_window_minutes; delays double up to login_max_delay_seconds.
    oidc_free_failures: int = Field(
        default=10, ge=1, description="Failed provider sign-ins from one address before delays"
    )
    oidc_max_failures: int = Field(
        default=50,
        ge=1,
        description="Failed provider sign-ins from one address within the window: refused",
    )

    clock_at: datetime | None = Field(
        default=None,
        description="Dev only: the API and pages run as if it were this instant "
        "(ISO 8601 with offset, e.g. 2027-01-02T09:00:00+01:00), for a demo on a chosen day",
    )

    # ---- cheques ----
    cheque_code_key: SecretStr = Field(
        default=SecretStr(DEV_CHEQUE_CODE_KEY),
        description="Seals cheques' security codes; at least 32 characters outside dev mode; "
        "never lose it (printed codes could no longer be checked)",
    )
    cheque_code_previous_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated former cheque code keys, still accepted to open codes",
    )
    cheque_code_max_failures: int = Field(
        default=5,
        ge=2,
        le=50,
        description="Wrong security codes on one booklet before it is locked",
    )

    # ---- Temporal payloads: encrypted (temporal_client.EncryptionCodec) ----
    payload_key: SecretStr = Field(
        default=SecretStr(DEV_PAYLOAD_KEY),
        description="Encrypts every Temporal payload (AES-256-GCM); at least 32 characters "
        "outside dev mode; the same for the API, the workers and every client; never lose "
        "it while histories it encrypted are kept",
    )
    payload_previous_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated former payload keys, still accepted to decrypt",
    )
    temporal_ui_origins: str = Field(
        default="",
        description="Comma-separated origins of the Temporal UI allowed to call the codec "
        "endpoint (/api/v1/temporal-codec/decode) from the browser; default: the dev "
        "server's UI (http://127.0.0.1:<ui port> and http://localhost:<ui port>)",
    )

    # ---- mail ----
    smtp_host: str = Field(default="127.0.0.1", description="SMTP relay (embedded: the local sink)")
    smtp_port: int = Field(default=8025, description="SMTP port (embedded sink: 8025)")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none, starttls (usually port 587) or tls (implicit, 465)"
    )
    smtp_username: str | None = Field(
        default=None, description="SMTP login, if the relay needs one"
    )
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_timeout_s: float = Field(default=15.0, gt=0, description="SMTP connection timeout")
    mail_from: str = Field(
        default="Pass numérique <ne-pas-repondre@passnum.localhost>",
        description="From header of every mail",
    )
    smtp_sink: bool = Field(
        default=True,
        description="passnum up: run the local SMTP sink on smtp_host:smtp_port (loopback only)",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="The app's public URL, for links in mails"
    )

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.environment != "dev":
            if secret == DEV_SECRET_KEY or len(secret) < 32:
                raise ValueError(
                    "PASSNUM_SECRET_KEY doit être un secret d'au moins 32 caractères en "
                    "production (par exemple : python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))')."
                )
        elif secret == DEV_SECRET_KEY and self.api_host not in LOOPBACK_HOSTS:
            raise ValueError(
                "La clé secrète de développement ne sert qu'en local : définissez "
                "PASSNUM_SECRET_KEY pour écouter sur une autre adresse que 127.0.0.1."
            )
        if self.environment != "dev" and self.clock_at is not None:
            raise ValueError("PASSNUM_CLOCK_AT ne sert qu'en développement.")
        if self.clock_at is not None and self.clock_at.tzinfo is None:
            raise ValueError("PASSNUM_CLOCK_AT doit préciser son fuseau (ex. +01:00).")
        code_key = self.cheque_code_key.get_secret_value()
        if self.environment != "dev" and (code_key == DEV_CHEQUE_CODE_KEY or len(code_key) < 32):
            raise ValueError(
                "PASSNUM_CHEQUE_CODE_KEY doit être un secret d'au moins 32 caractères en "
                "production, conservé avec soin : sans lui, les codes de sécurité imprimés "
                "sur les bordereaux ne peuvent plus être vérifiés."
            )
        payload_key = self.payload_key.get_secret_value()
        if self.environment != "dev" and (payload_key == DEV_PAYLOAD_KEY or len(payload_key) < 32):
            raise ValueError(
                "PASSNUM_PAYLOAD_KEY doit être un secret d'au moins 32 caractères en "
                "production, le même pour l'API et les workers, conservé avec soin : sans "
                "lui, les historiques Temporal qu'il a chiffrés ne se relisent plus."
            )
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("PASSNUM_OIDC_CLIENT_ID est requis avec PASSNUM_OIDC_ISSUER.")
        return self

    @cached_property
    def payload_keyring(self) -> Keyring:
        """Encrypts Temporal payloads with the current key; decrypts with it or a former one."""
        previous = self.payload_previous_keys
        return Keyring(
            self.payload_key.get_secret_value(),
            parse_secrets(previous.get_secret_value() if previous else None),
            info=PAYLOAD_KEY_INFO,
        )

    @property
    def temporal_ui_origin_list(self) -> list[str]:
        given = [o.strip().rstrip("/") for o in self.temporal_ui_origins.split(",") if o.strip()]
        port = self.temporal_ui_port
        return given or [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    @cached_property
    def code_vault(self) -> CodeVault:
        """Seals and opens cheques' security codes (records.cheque_codes)."""
        previous = self.cheque_code_previous_keys
        return CodeVault(
            self.cheque_code_key.get_secret_value(),
            parse_secrets(previous.get_secret_value() if previous else None),
        )

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @cached_property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'passnum.db').resolve()}"
