"""Administrators' space: structures (APTIC qualification dates of mediation structures)
and accounts (create with a role and scope, deactivate, issue and revoke API tokens).

Administrators see no journey (api/access.py). Every page here is theirs alone: other
roles get 403. Services: `records.accounts`, `records.structures`. A new API token's
secret is shown once, on the account page the POST redirects to: it travels in a cookie
limited to that page, read and deleted there (passnum keeps only its hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access, consent_service
from api.audit_log import account_details, audit_token, read_page
from api.auth import CurrentUser, User, cookie_secure, now_utc
from api.constraints import LINE, MAX_PAGE, Id, IdPath, ShortText
from api.deps import AppState, State
from api.errors import ApiError
from api.forms import Form, read_form
from api.mail_service import AccountMail, plan_link_mail, send_planned
from api.web import render
from domain.rights import CONSENT_TEXT_MAX, AuditAction
from domain.stages import Role
from domain.validity import paris_today
from records import accounts, audit, coordination, memberships, models, queries
from records.account_links import LinkPurpose
from records.structures import StructureError, set_aptic_qualification

router = APIRouter(prefix="/administration", include_in_schema=False)
NEW_TOKEN_COOKIE = "passnum_new_token"
ROLES = [Role.SOCIAL_WORKER, Role.MEDIATOR, Role.COORDINATOR, Role.ADMINISTRATOR]

DONE_MESSAGES = {
    "qualification": "La qualification APTIC est enregistrée.",
    "ajoutee": "La structure est ajoutée à l'annuaire.",
    "fiche": "La fiche de la structure est enregistrée.",
    "cree": "Le compte est créé : communiquez son mot de passe à la personne.",
    "reinvite": "Une nouvelle invitation part par courriel (valable 7 jours) ; la précédente "
    "ne fonctionne plus.",
    "invite": "Le compte est créé et l'invitation part par courriel : la personne choisit son "
    "mot de passe avec le lien reçu (valable 7 jours).",
    "desactive": "Le compte est désactivé : ses sessions sont fermées et ses jetons révoqués.",
    "revoque": "Le jeton est révoqué.",
    "acces": "Cette adresse est celle d'un compte d'un autre programme : il a maintenant accès "
    "à ce programme-ci, avec le rôle choisi. La personne le choisit dans l'en-tête.",
    "acces-retire": "L'accès à ce programme est retiré ; le compte garde son propre programme.",
}


class QualificationForm(BaseModel):
    qualified_from: date
    qualified_until: date | None = None


class AccountForm(BaseModel):
    full_name: str = Field(min_length=1, max_length=200, pattern=LINE)
    email: str = Field(min_length=3, max_length=254, pattern=LINE)
    role: Role
    reception_structure_id: Id | None = None
    mediation_structure_id: Id | None = None
    epci_id: Id | None = None
    # None: an invitation by e-mail (the person chooses the password).
    password: str | None = Field(default=None, min_length=1, max_length=200)


class TokenForm(BaseModel):
    label: ShortText


def _programme_id(session: Session, user: User) -> int:
    programme = queries.get_programme(session, user.programme_code)
    if programme is None or programme.id is None:
        raise ApiError(503, "no_programme", "Aucun programme n'est configuré.")
    return programme.id


def _done(path: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?fait={what}", status_code=303)


def _done_message(fait: str | None) -> str | None:
    return DONE_MESSAGES.get(fait or "")


Done = Annotated[str | None, Query(max_length=20)]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@router.get("")
async def space(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    access.require_admin(user)

    def read(session: Session) -> dict[str, int]:
        names = coordination.reference_names(session, _programme_id(session, user))
        rows = accounts.list_accounts(session, user.programme_code)
        return {
            "reception": len(names.reception),
            "mediation": len(names.mediation),
            "accounts": sum(1 for a in rows if a.is_active),
        }

    return render(request, "admin/space.html", {"counts": await state.db.run(read)})


# ---- structures ----


@router.get("/structures")
async def structures(
    request: Request, state: State, user: CurrentUser, fait: Done = None
) -> HTMLResponse:
    access.require_admin(user)

    def read(session: Session) -> dict[str, Any]:
        programme_id = _programme_id(session, user)
        return {
            "names": coordination.reference_names(session, programme_id),
            "reception": queries.list_reception_structures(session, user.programme_code),
            "mediation": queries.list_mediation_structures(session, user.programme_code),
        }

    found = await state.db.run(read)
    return render(
        request,
        "admin/structures.html",
        {**found, "today": paris_today(), "done": _done_message(fait)},
    )


async def _mediation_structure(
    state: AppState, user: User, structure_id: int
) -> models.MediationStructure:
    def read(session: Session) -> models.MediationStructure:
        structure = queries.get_mediation_structure(session, structure_id)
        if structure is None or structure.programme_id != _programme_id(session, user):
            raise ApiError(404, "not_found", "Structure de médiation introuvable.")
        return structure

    return await state.db.run(read)


@router.get("/structures/mediation/{structure_id}")
async def qualification_form(
    request: Request, state: State, user: CurrentUser, structure_id: IdPath
) -> HTMLResponse:
    access.require_admin(user)
    structure = await _mediation_structure(state, user, structure_id)
    form: Form[QualificationForm] = Form.blank(
        {
            "qualified_from": structure.aptic_qualified_from.isoformat(),
            "qualified_until": structure.aptic_qualified_until.isoformat()
            if structure.aptic_qualified_until
            else "",
        }
    )
    return render(request, "admin/qualification.html", {"s": structure, "form": form})


@router.post("/structures/mediation/{structure_id}")
async def qualify(
    request: Request, state: State, user: CurrentUser, structure_id: IdPath
) -> Response:
    access.require_admin(user)
    structure = await _mediation_structure(state, user, structure_id)
    form = await read_form(request, QualificationForm)
    if form.ok:
        data = form.data

        def write(session: Session) -> None:
            row = session.get(models.MediationStructure, structure_id)
            assert row is not None
            before = (row.aptic_qualified_from, row.aptic_qualified_until)
            set_aptic_qualification(
                session,
                row,
                qualified_from=data.qualified_from,
                qualified_until=data.qualified_until,
                account_id=user.id,
                source="page",
                at=now_utc(),
            )
            audit.record(
                session,
                at=now_utc(),
                programme_code=user.programme_code,
                account_id=user.id,
                action=AuditAction.QUALIFICATION_SET,
                target=f"mediation_structure:{structure_id}",
                details={
                    "structure": row.name,
                    "qualified_from": data.qualified_from.isoformat(),
                    "qualified_until": _iso(data.qualified_until),
                    "previous_from": before[0].isoformat(),
                    "previous_until": _iso(before[1]),
                },
            )

        try:
            await state.db.run(write, write=True)
            return _done("/administration/structures", "qualification")
        except StructureError as err:
            form.add_error(err.field, err.message)
    return render(
        request, "admin/qualification.html", {"s": structure, "form": form}, status_code=422
    )


# ---- accounts ----


@router.get("/comptes")
async def account_list(
    request: Request, state: State, user: CurrentUser, fait: Done = None
) -> HTMLResponse:
    access.require_admin(user)

    def read(session: Session) -> dict[str, Any]:
        guests = memberships.members(session, user.programme_code)
        return {
            "accounts": accounts.list_accounts(session, user.programme_code),
            "guests": guests,
            "homes": memberships.programme_names(session, [a.programme_code for a, _ in guests]),
            "names": coordination.reference_names(session, _programme_id(session, user)),
        }

    found = await state.db.run(read)
    return render(request, "admin/accounts.html", {**found, "done": _done_message(fait)})


async def _account_form_page(
    request: Request, state: AppState, user: User, form: Form[Any], status: int
) -> HTMLResponse:
    names = await state.db.run(lambda s: coordination.reference_names(s, _programme_id(s, user)))
    roles = [(r.value, r.label) for r in ROLES]
    return render(
        request,
        "admin/account_new.html",
        {"form": form, "names": names, "roles": roles},
        status_code=status,
    )


@router.get("/comptes/nouveau")
async def account_new(request: Request, state: State, user: CurrentUser) -> HTMLResponse:
    access.require_admin(user)
    return await _account_form_page(request, state, user, Form.blank(), 200)


# The scope field each role needs, and what to say when it is missing.
SCOPE_FIELD = {
    Role.SOCIAL_WORKER: ("reception_structure_id", "Choisissez la structure d'accueil."),
    Role.MEDIATOR: ("mediation_structure_id", "Choisissez la structure de médiation."),
}


@router.post("/comptes/nouveau")
async def account_create(request: Request, state: State, user: CurrentUser) -> Response:
    access.require_admin(user)
    form = await read_form(request, AccountForm)
    if form.ok:
        data = form.data
        role = data.role
        scope = {
            "reception_structure_id": data.reception_structure_id
            if role == Role.SOCIAL_WORKER
            else None,
            "mediation_structure_id": data.mediation_structure_id
            if role == Role.MEDIATOR
            else None,
            "epci_id": data.epci_id if role == Role.COORDINATOR else None,
        }
        needed = SCOPE_FIELD.get(role)
        if needed and scope[needed[0]] is None:
            form.add_error(needed[0], needed[1])
        if data.password is not None and len(data.password) < accounts.PASSWORD_MIN_LENGTH:
            form.add_error(
                "password",
                f"Le mot de passe doit compter au moins {accounts.PASSWORD_MIN_LENGTH} caractères.",
            )
    if form.ok:
        now = now_utc()

        def write(session: Session) -> tuple[int | None, AccountMail | None]:
            names = coordination.reference_names(session, _programme_id(session, user))
            known = {
                "reception_structure_id": names.reception,
                "mediation_structure_id": names.mediation,
                "epci_id": names.epci,
            }
            for field, value in scope.items():
                if value is not None and value not in known[field]:
                    raise _Refused(field, "Ce choix n'existe pas dans le programme.")
            elsewhere = accounts.get_account_by_email(session, data.email)
            if elsewhere is not None and elsewhere.programme_code != user.programme_code:
                grant_access(session, user, elsewhere, data.role, scope, now)
                return None, None
            try:
                account = accounts.create_account(
                    session,
                    email=data.email,
                    full_name=data.full_name,
                    role=data.role,
                    programme_code=user.programme_code,
                    now=now,
                    password=data.password,
                    reception_structure_id=scope["reception_structure_id"],
                    mediation_structure_id=scope["mediation_structure_id"],
                    epci_id=scope["epci_id"],
                )
            except accounts.AccountError as err:
                text = str(err)
                raise _Refused("email" if "e-mail" in text else "password", text) from err
            assert account.id is not None
            audit.record(
                session,
                at=now,
                programme_code=user.programme_code,
                account_id=user.id,
                action=AuditAction.ACCOUNT_CREATED,
                target=f"account:{account.id}",
                details=account_details(account) | {"with_password": data.password is not None},
            )
            if data.password is not None:
                return account.id, None
            return account.id, invite(session, state, user, account, now)

        try:
            account_id, planned = await state.db.run(write, write=True)
            if account_id is None:
                return _done("/administration/comptes", "acces")
            if planned is None:
                return _done(f"/administration/comptes/{account_id}", "cree")
            await send_planned(state.temporal, state.settings, planned)
            return _done(f"/administration/comptes/{account_id}", "invite")
        except _Refused as refused:
            form.add_error(refused.field, refused.message)
    form.values.pop("password", None)  # never sent back in the page
    return await _account_form_page(request, state, user, form, 422)


def grant_access(
    session: Session,
    user: User,
    account: models.Account,
    role: Role,
    scope: dict[str, int | None],
    now: datetime,
) -> None:
    """Give an account of another programme `role` in the user's programme, audit-logged
    (an existing e-mail typed in the account form: one person, one account)."""
    if not account.is_active:
        raise _Refused("email", "Ce compte est désactivé dans son programme.")
    membership = memberships.Membership(programme_code=user.programme_code, role=role, **scope)
    try:
        memberships.grant(session, account, membership, now=now, granted_by=user.id)
    except accounts.AccountError as err:
        raise _Refused("role", str(err)) from err
    audit.record(
        session,
        at=now,
        programme_code=user.programme_code,
        account_id=user.id,
        action=AuditAction.PROGRAMME_ACCESS_GRANTED,
        target=f"account:{account.id}",
        details={"email": account.email, "role": role.value, "home": account.programme_code}
        | {k: v for k, v in scope.items() if v is not None},
    )


@router.post("/comptes/{account_id}/acces/retirer")
async def access_revoke(
    request: Request, state: State, user: CurrentUser, account_id: IdPath
) -> Response:
    """Withdraw the access to this programme of an account of another programme."""
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> bool:
        gone = memberships.revoke(session, account_id, user.programme_code)
        if gone:
            audit.record(
                session,
                at=now,
                programme_code=user.programme_code,
                account_id=user.id,
                action=AuditAction.PROGRAMME_ACCESS_REVOKED,
                target=f"account:{account_id}",
                details={},
            )
        return gone

    if not await state.db.run(write, write=True):
        raise ApiError(404, "not_found", "Ce compte n'a pas accès à ce programme.")
    return _done("/administration/comptes", "acces-retire")


def invite(
    session: Session, state: AppState, user: User, account: models.Account, now: datetime
) -> AccountMail:
    """Mail `account` an invitation (a one-time link to choose its password), audit-logged;
    the caller sends the planned mail once committed."""
    planned = plan_link_mail(
        session,
        state.settings,
        account,
        LinkPurpose.INVITATION,
        now=now,
        created_by=user.id,
    )
    audit.record(
        session,
        at=now,
        programme_code=user.programme_code,
        account_id=user.id,
        action=AuditAction.INVITATION_SENT,
        target=f"account:{account.id}",
        details={"email": account.email, "delivery_id": planned.delivery_id},
    )
    return planned


class _Refused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AccountView:
    account: models.Account
    scope: str
    tokens: list[models.ApiToken]


def _account_view(session: Session, user: User, account_id: int) -> AccountView:
    account = access.programme_account(session, user, account_id)
    names = coordination.reference_names(session, _programme_id(session, user))
    if account.reception_structure_id is not None:
        scope = names.reception.get(account.reception_structure_id, "?")
    elif account.mediation_structure_id is not None:
        scope = names.mediation.get(account.mediation_structure_id, "?")
    elif account.epci_id is not None:
        scope = names.epci.get(account.epci_id, "?")
    elif account.role == Role.COORDINATOR:
        scope = "Tout le programme"
    else:
        scope = "Comptes et structures du programme"
    return AccountView(
        account=account, scope=scope, tokens=accounts.list_api_tokens(session, account_id)
    )


async def _account_page(
    request: Request,
    state: AppState,
    user: User,
    account_id: int,
    *,
    token_form: Form[Any],
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = await state.db.run(lambda s: _account_view(s, user, account_id))
    secret = request.cookies.get(NEW_TOKEN_COOKIE)
    hashes = {t.token_hash for t in view.tokens if t.revoked_at is None}
    new_token = secret if secret and accounts.token_digest(secret) in hashes else None
    response = render(
        request,
        "admin/account.html",
        {
            "v": view,
            "token_form": token_form,
            "new_token": new_token,
            "done": done,
            "is_self": view.account.id == user.id,
        },
        status_code=status,
    )
    if secret:
        response.delete_cookie(NEW_TOKEN_COOKIE, path=f"/administration/comptes/{account_id}")
    return response


@router.get("/comptes/{account_id}")
async def account_page(
    request: Request, state: State, user: CurrentUser, account_id: IdPath, fait: Done = None
) -> HTMLResponse:
    access.require_admin(user)
    return await _account_page(
        request, state, user, account_id, token_form=Form.blank(), done=_done_message(fait)
    )


@router.post("/comptes/{account_id}/desactiver")
async def account_deactivate(
    request: Request, state: State, user: CurrentUser, account_id: IdPath
) -> Response:
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> None:
        account = access.programme_account(session, user, account_id)
        if account.id == user.id:
            raise ApiError(
                409,
                "own_account",
                "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre "
                "administrateur.",
            )
        live = [t for t in accounts.list_api_tokens(session, account_id) if not t.revoked_at]
        accounts.deactivate(session, account, now=now)
        audit.record(
            session,
            at=now,
            programme_code=user.programme_code,
            account_id=user.id,
            action=AuditAction.ACCOUNT_DEACTIVATED,
            target=f"account:{account_id}",
            details={"email": account.email, "tokens_revoked": len(live)},
        )

    await state.db.run(write, write=True)
    return _done(f"/administration/comptes/{account_id}", "desactive")


@router.post("/comptes/{account_id}/inviter")
async def account_invite(
    request: Request, state: State, user: CurrentUser, account_id: IdPath
) -> Response:
    """Mail the invitation again (a new link; the previous one stops working), for an
    active account whose password has not been chosen yet."""
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> AccountMail:
        account = access.programme_account(session, user, account_id)
        if not account.is_active or account.password_hash is not None:
            raise ApiError(
                409,
                "not_invitable",
                "Ce compte a déjà un mot de passe, ou il est désactivé : pas d'invitation. "
                "Un mot de passe oublié se renouvelle depuis la page de connexion.",
            )
        return invite(session, state, user, account, now)

    planned = await state.db.run(write, write=True)
    await send_planned(state.temporal, state.settings, planned)
    return _done(f"/administration/comptes/{account_id}", "reinvite")


@router.post("/comptes/{account_id}/jetons")
async def token_issue(
    request: Request, state: State, user: CurrentUser, account_id: IdPath
) -> Response:
    access.require_admin(user)
    form = await read_form(request, TokenForm)
    if form.ok:
        label = form.data.label
        now = now_utc()

        def write(session: Session) -> str:
            account = access.programme_account(session, user, account_id)
            live = [t for t in accounts.list_api_tokens(session, account_id) if not t.revoked_at]
            if any(t.label == label for t in live):
                # Also what makes a double submit harmless: the second one issues nothing.
                raise _Refused(
                    "label",
                    "Un jeton actif de ce compte porte déjà ce nom : choisissez-en un autre, "
                    "ou révoquez l'ancien.",
                )
            try:
                row, secret = accounts.issue_api_token(
                    session, account, label=label, now=now, created_by=user.id
                )
            except accounts.AccountError as err:
                raise _Refused("label", str(err)) from err
            audit_token(session, user, row, AuditAction.TOKEN_ISSUED, now)
            return secret

        try:
            secret = await state.db.run(write, write=True)
        except _Refused as refused:
            form.add_error(refused.field, refused.message)
        else:
            path = f"/administration/comptes/{account_id}"
            response = RedirectResponse(path, status_code=303)
            response.set_cookie(
                NEW_TOKEN_COOKIE,
                secret,
                max_age=300,
                path=path,
                httponly=True,
                samesite="strict",
                secure=cookie_secure(request, state.settings),
            )
            return response
    return await _account_page(request, state, user, account_id, token_form=form, status=422)


@router.post("/jetons/{token_id}/revoquer")
async def token_revoke(
    request: Request, state: State, user: CurrentUser, token_id: IdPath
) -> Response:
    access.require_admin(user)
    now = now_utc()

    def write(session: Session) -> int:
        token = access.programme_token(session, user, token_id)
        if token.revoked_at is None:
            accounts.revoke_api_token(session, token, now=now)
            audit_token(session, user, token, AuditAction.TOKEN_REVOKED, now)
        return token.account_id

    account_id = await state.db.run(write, write=True)
    return _done(f"/administration/comptes/{account_id}", "revoque")


# ---- the audit log and the consent wording ----

JOURNAL_PAGE = 50


@router.get("/journal")
async def journal(
    request: Request,
    state: State,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> HTMLResponse:
    """Every administrator's action, most recent first (append-only: nothing here can be
    changed or deleted)."""
    access.require_admin(user)
    offset = (page - 1) * JOURNAL_PAGE
    found = await state.db.run(lambda s: read_page(s, user, limit=JOURNAL_PAGE, offset=offset))
    return render(
        request,
        "admin/journal.html",
        {
            "entries": found.items,
            "total": found.total,
            "page": page,
            "has_next": offset + JOURNAL_PAGE < found.total,
        },
    )


class ConsentForm(BaseModel):
    wording: str = Field(min_length=20, max_length=CONSENT_TEXT_MAX)


async def _consent_page(
    request: Request,
    state: AppState,
    form: Form[Any],
    *,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    found = await state.db.run(consent_service.versions)
    return render(
        request,
        "admin/consent.html",
        {"form": form, "versions": found, "done": done},
        status_code=status,
    )


@router.get("/consentement")
async def consent_page(
    request: Request, state: State, user: CurrentUser, fait: Done = None
) -> HTMLResponse:
    access.require_admin(user)
    done = "La nouvelle version du texte est en vigueur." if fait == "publie" else None
    return await _consent_page(request, state, Form.blank(), done=done)


@router.post("/consentement")
async def consent_publish(request: Request, state: State, user: CurrentUser) -> Response:
    """Publish a new wording (a double submit: the second finds it in force, 409 on the
    form, nothing more published)."""
    access.require_admin(user)
    form = await read_form(request, ConsentForm)
    if form.ok:
        wording = form.data.wording
        now = now_utc()
        try:
            await state.db.run(lambda s: consent_service.publish(s, user, wording, now), write=True)
            return _done("/administration/consentement", "publie")
        except ApiError as err:
            if err.status != 409:
                raise
            form.refuse(err, "wording")
    return await _consent_page(request, state, form, status=422)
