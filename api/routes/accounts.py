"""JSON API: who am I, and the administrator's accounts and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access
from api.audit_log import audit_token
from api.auth import CurrentUser, now_utc
from api.constraints import IdPath, ShortText
from api.deps import State
from api.errors import ApiError, error_responses
from api.schemas import Strict
from domain.rights import AuditAction
from domain.stages import Role
from records import accounts
from records.models import ApiToken

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class ProgrammeChoiceOut(BaseModel):
    code: int
    name: str


class Me(BaseModel):
    id: int
    email: str
    full_name: str
    role: Role
    role_label: str
    programme_code: int
    reception_structure_id: int | None
    mediation_structure_id: int | None
    epci_id: int | None
    csrf_token: str | None = Field(
        description="Send it as X-CSRF-Token on changes made with the session cookie"
    )
    programmes: list[ProgrammeChoiceOut] = Field(
        description="The account's programmes when it works in more than one (role and scope "
        "above are those of `programme_code`); a token call picks one with the "
        "X-Passnum-Programme header"
    )


class AccountOut(BaseModel):
    id: int
    email: str
    full_name: str
    role: Role
    reception_structure_id: int | None
    mediation_structure_id: int | None
    epci_id: int | None
    is_active: bool
    last_login_at: datetime | None


class TokenIn(Strict):
    label: ShortText = Field(description="What the token is for")


class TokenOut(BaseModel):
    id: int
    account_id: int
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        assert row.id is not None
        return cls(
            id=row.id,
            account_id=row.account_id,
            label=row.label,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class IssuedToken(TokenOut):
    token: str = Field(description="The secret: shown once, store it now")


@router.get("/me", responses=error_responses(401))
async def me(user: CurrentUser) -> Me:
    """The signed-in account (session or token)."""
    return Me(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        role_label=user.role.label,
        programme_code=user.programme_code,
        reception_structure_id=user.reception_structure_id,
        mediation_structure_id=user.mediation_structure_id,
        epci_id=user.epci_id,
        csrf_token=user.csrf_token,
        programmes=[ProgrammeChoiceOut(code=c, name=n) for c, n in user.programmes],
    )


@router.get("/accounts", responses=error_responses(401, 403))
async def list_accounts(state: State, user: CurrentUser) -> list[AccountOut]:
    """Every account of the programme (administrators only)."""
    access.require_admin(user)
    rows = await state.db.run(lambda s: accounts.list_accounts(s, user.programme_code))
    return [
        AccountOut(
            id=r.id or 0,
            email=r.email,
            full_name=r.full_name,
            role=Role(r.role),
            reception_structure_id=r.reception_structure_id,
            mediation_structure_id=r.mediation_structure_id,
            epci_id=r.epci_id,
            is_active=r.is_active,
            last_login_at=r.last_login_at,
        )
        for r in rows
    ]


@router.get("/accounts/{account_id}/tokens", responses=error_responses(401, 403, 404, 422))
async def list_tokens(account_id: IdPath, state: State, user: CurrentUser) -> list[TokenOut]:
    access.require_admin(user)

    def read(session: Session) -> list[ApiToken]:
        access.programme_account(session, user, account_id)  # 404 outside the programme
        return accounts.list_api_tokens(session, account_id)

    return [TokenOut.of(t) for t in await state.db.run(read)]


@router.post(
    "/accounts/{account_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def issue_token(
    account_id: IdPath, body: TokenIn, state: State, user: CurrentUser
) -> IssuedToken:
    """Issue a personal API token for an account (administrators only). The secret is in
    this answer only; passnum keeps its hash."""
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> IssuedToken:
        account = access.programme_account(session, user, account_id)
        try:
            row, secret = accounts.issue_api_token(
                session, account, label=body.label, now=now, created_by=user.id
            )
        except accounts.AccountError as err:
            raise ApiError(409, "account_inactive", str(err)) from err
        audit_token(session, user, row, AuditAction.TOKEN_ISSUED, now)
        return IssuedToken(**TokenOut.of(row).model_dump(), token=secret)

    return await state.db.run(write, write=True)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def revoke_token(token_id: IdPath, state: State, user: CurrentUser) -> Response:
    """Revoke a token at once (administrators only). Revoking twice changes nothing."""
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> None:
        token = access.programme_token(session, user, token_id)
        if token.revoked_at is None:
            accounts.revoke_api_token(session, token, now=now)
            audit_token(session, user, token, AuditAction.TOKEN_REVOKED, now)

    await state.db.run(write, write=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
