"""JSON API: the programmes of the instance, for administrators.

- `GET /programmes`: the programmes the administrator works in (another's are not shown);
- `POST /programmes`: create one from a programme file (docs/programme-file.md) sent as the
  body, all or nothing: 422 `invalid_programme_file` with every error `{line, path,
  message}` (French, the line of the body), 409 `programme_code_taken`.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access
from api.auth import CurrentUser, now_utc
from api.deps import State
from api.errors import ApiError, error_responses
from records import programmes
from records.programme_file import (
    CODE_LOC,
    MAX_FILE_BYTES,
    ProgrammeFile,
    ProgrammeFileError,
    locate,
    parse,
)

router = APIRouter(prefix="/api/v1", tags=["programmes"])
PATH = "/api/v1/programmes"
MAX_BODY_BYTES = MAX_FILE_BYTES


class ProgrammeOut(BaseModel):
    id: int
    code: int = Field(description="serial prefix: the first 3 digits of every cheque serial")
    name: str
    territory: str
    issuer_name: str
    starts_on: date
    ends_on: date | None
    target_booklets: int | None
    budget_total_cents: int
    cheque_value_cents: int
    cheques_per_booklet: int
    epci: int = Field(description="how many EPCI")
    funders: int
    budget_lines: int
    reception_structures: int
    mediation_structures: int

    @classmethod
    def of(cls, summary: programmes.ProgrammeSummary) -> ProgrammeOut:
        return cls.model_validate(summary, from_attributes=True)


def refused(err: ProgrammeFileError) -> ApiError:
    return ApiError(
        422,
        "invalid_programme_file",
        f"Fichier de programme refusé : {len(err.errors)} erreur(s), rien n'a été créé.",
        [e.as_dict() for e in err.errors],
    )


def code_taken(err: programmes.ProgrammeCodeTaken, content: bytes) -> ApiError:
    return ApiError(
        409,
        "programme_code_taken",
        err.sentence,
        [locate(content, CODE_LOC, err.message).as_dict()],
    )


@router.get("/programmes", responses=error_responses(401, 403))
async def list_programmes(state: State, user: CurrentUser) -> list[ProgrammeOut]:
    """Administrators: the programmes they work in, by serial prefix."""
    access.require_admin(user)
    codes = user.programme_codes
    found = await state.db.run(lambda db: programmes.list_programmes(db, codes))
    return [ProgrammeOut.of(p) for p in found]


@router.post(
    "/programmes",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        401,
        403,
        409,
        422,
        descriptions={
            409: "Préfixe de numéro de chèque déjà pris (`programme_code_taken`)",
            422: "Fichier refusé : détail `[{line, path, message}]`, en français",
        },
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Un fichier de programme (docs/programme-file.md), tel quel",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def create_programme(request: Request, state: State, user: CurrentUser) -> ProgrammeOut:
    """Administrators: create a programme (territory, period, issuer, serial prefix,
    funders and budget lines, target, EPCI and structures) from a programme file, with its
    default rules and its funding rule. All or nothing; errors name the body's line."""
    access.require_admin(user)
    content = await request.body()
    try:
        spec: ProgrammeFile = parse(content)
    except ProgrammeFileError as err:
        raise refused(err) from None

    def write(db: Session) -> programmes.ProgrammeSummary:
        try:
            created = programmes.create_programme(
                db, spec, at=now_utc(), account_id=user.id, audit_programme_code=user.programme_code
            )
        except programmes.ProgrammeCodeTaken as err:
            raise code_taken(err, content) from None
        assert created.id is not None
        return programmes.summary_of(db, created.id)

    return ProgrammeOut.of(await state.db.run(write, write=True))
