"""JSON API: the structures directory, for administrators (reading stays `GET /structures`).

- `POST /structures`: a new reception or mediation structure (Idempotency-Key: the same key
  sent again answers the structure first created, 200 instead of 201);
- `PATCH /structures/{kind}/{id}`: change some fields (`active: false` deactivates: kept for
  history, no longer offered for orientation);
- `GET /structures/{id}/qualifications`: a mediation structure's APTIC periods, oldest first;
- `POST /structures/import?format=csv|json&dry_run=true`: a whole file in the national
  *lieux de médiation numérique* schema (domain.directory), all or nothing;
- `GET /structures/export?format=csv|json`: the mediation places in the same schema.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import access
from api.auth import CurrentUser, now_utc
from api.constraints import LINE, IdPath
from api.deps import IdempotencyKey, State
from api.errors import ApiError, error_responses, not_found
from api.exports import CSV_CONTENT, attachment
from api.idempotency import claim, fingerprint
from api.schemas import Strict, StructureKind
from domain.directory import to_csv, to_json
from domain.needs import Theme
from records import directory
from records.models import MediationStructure, ReceptionStructure
from records.structures import StructureError

router = APIRouter(prefix="/api/v1", tags=["structures directory"])
IMPORT_PATH = "/api/v1/structures/import"
MAX_IMPORT_BYTES = 16 * 1024 * 1024  # a national file of ~40 000 places

Line = Annotated[str, Field(min_length=1, max_length=200, pattern=LINE)]
Format = Literal["csv", "json"]


class StructureFields(Strict):
    name: Line | None = None
    epci_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    commune: Annotated[str, Field(min_length=1, max_length=120, pattern=LINE)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = (
        None
    )
    siret: Annotated[str, Field(pattern=r"^\d{14}$")] | None = None
    address: Annotated[str, Field(max_length=300, pattern=LINE)] | None = None
    postal_code: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None
    insee_code: Annotated[str, Field(pattern=r"^(\d{5}|2[AB]\d{3})$")] | None = None
    phone: Annotated[str, Field(max_length=40, pattern=LINE)] | None = None
    opening_hours: Annotated[str, Field(max_length=500, pattern=LINE)] | None = Field(
        default=None, description="OpenStreetMap opening_hours, e.g. `Mo-Fr 09:00-12:00`"
    )
    active: bool | None = None
    # Reception structures only
    kind: Annotated[str, Field(min_length=1, max_length=40, pattern=LINE)] | None = Field(
        default=None, description="reception: CCAS, France Services, MDS, Mairie…"
    )
    # Mediation structures only
    external_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")] | None = (
        Field(default=None, description="mediation: the national schema's `id`")
    )
    themes: list[Theme] | None = Field(default=None, max_length=len(Theme))
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    aptic_qualified_from: date | None = None
    aptic_qualified_until: date | None = None


class StructureCreate(StructureFields):
    structure_kind: StructureKind
    name: Line
    epci_id: int = Field(ge=1, le=2**31 - 1)
    commune: Annotated[str, Field(min_length=1, max_length=120, pattern=LINE)]


class StructureDetail(BaseModel):
    id: int
    structure_kind: StructureKind
    fields: dict[str, Any]


class StructureChange(BaseModel):
    structure: StructureDetail
    changed: list[str]


class QualificationOut(BaseModel):
    qualified_from: date
    qualified_until: date | None
    recorded_at: str
    account_id: int | None
    source: str


class ImportReport(BaseModel):
    dry_run: bool
    applied: bool
    created: list[str]
    updated: dict[str, list[str]]
    unchanged: int
    errors: list[str]


def _detail(row: MediationStructure | ReceptionStructure) -> StructureDetail:
    assert row.id is not None
    kind = (
        StructureKind.MEDIATION if isinstance(row, MediationStructure) else StructureKind.RECEPTION
    )
    return StructureDetail(
        id=row.id,
        structure_kind=kind,
        fields=row.model_dump(mode="json", exclude={"id", "programme_id"}),
    )


def _missing_for(kind: StructureKind, body: StructureCreate) -> list[str]:
    needed = (
        ["capacity", "aptic_qualified_from", "themes"] if kind == StructureKind.MEDIATION else []
    )
    if kind == StructureKind.RECEPTION:
        needed = ["kind"]
    return [n for n in needed if getattr(body, n) is None]


def _refused(err: StructureError) -> ApiError:
    return ApiError(422, "invalid_structure", err.message, [{"field": err.field}])


def _load(db: Session, code: int, kind: StructureKind, structure_id: int) -> Any:
    row: MediationStructure | ReceptionStructure | None
    if kind == StructureKind.MEDIATION:
        row = db.get(MediationStructure, structure_id)
    else:
        row = db.get(ReceptionStructure, structure_id)
    if row is None or row.programme_id != directory.programme_id(db, code):
        raise not_found("Structure")
    return row


@router.post(
    "/structures",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_structure(
    body: StructureCreate,
    response: Response,
    state: State,
    user: CurrentUser,
    key: IdempotencyKey = None,
) -> StructureDetail:
    """Add a structure to the directory (administrators). Mediation structures need
    `capacity`, `themes` and `aptic_qualified_from`; reception structures their `kind`."""
    access.require_admin(user)
    missing = _missing_for(body.structure_kind, body)
    if missing:
        raise ApiError(
            422,
            "invalid_structure",
            "Champs obligatoires manquants : " + ", ".join(missing) + ".",
            [{"field": m} for m in missing],
        )
    code = user.programme_code
    values = body.model_dump(exclude={"structure_kind"}, exclude_none=True)
    if "themes" in values:
        values["themes"] = [Theme(t).value for t in values["themes"]]
    fp = fingerprint(state.settings.secret_key.get_secret_value(), body)

    def write(db: Session) -> StructureDetail:
        if key and not claim(db, scope=f"structure:{user.id}", key=key, fingerprint=fp):
            target = directory.created_by_key(db, code, user.id, key)
            assert target is not None
            kind, _, ident = target.partition("_structure:")
            response.status_code = status.HTTP_200_OK
            return _detail(_load(db, code, StructureKind(kind), int(ident)))
        try:
            row = directory.create_structure(
                db,
                code,
                body.structure_kind.value,
                values,
                at=now_utc(),
                account_id=user.id,
                source="api",
                idempotency_key=key,
            )
        except StructureError as err:
            raise _refused(err) from None
        return _detail(row)

    return await state.db.run(write, write=True)


@router.patch("/structures/{kind}/{structure_id}", responses=error_responses(401, 403, 404, 422))
async def update_structure(
    kind: StructureKind,
    structure_id: IdPath,
    body: StructureFields,
    state: State,
    user: CurrentUser,
) -> StructureChange:
    """Change the given fields (administrators); the same change sent again changes
    nothing (`changed` empty). `active: false` deactivates the structure."""
    access.require_admin(user)
    code = user.programme_code
    values = body.model_dump(exclude_unset=True)
    if values.get("themes") is not None:
        values["themes"] = [Theme(t).value for t in values["themes"]]
    for name in ("name", "epci_id", "commune", "active", "kind", "capacity", "themes"):
        if name in values and values[name] is None:
            raise ApiError(
                422, "invalid_structure", f"« {name} » ne peut pas être vide.", [{"field": name}]
            )

    def write(db: Session) -> StructureChange:
        row = _load(db, code, kind, structure_id)
        try:
            changed = directory.update_structure(
                db, code, row, values, at=now_utc(), account_id=user.id, source="api"
            )
        except StructureError as err:
            raise _refused(err) from None
        return StructureChange(structure=_detail(row), changed=sorted(changed))

    return await state.db.run(write, write=True)


@router.get(
    "/structures/{structure_id}/qualifications", responses=error_responses(401, 403, 404, 422)
)
async def qualification_history(
    structure_id: IdPath, state: State, user: CurrentUser
) -> list[QualificationOut]:
    """A mediation structure's APTIC qualification periods as set, oldest first."""
    access.require_admin(user)

    def read(db: Session) -> list[QualificationOut]:
        _load(db, user.programme_code, StructureKind.MEDIATION, structure_id)
        return [
            QualificationOut(
                qualified_from=h.qualified_from,
                qualified_until=h.qualified_until,
                recorded_at=h.recorded_at.isoformat(),
                account_id=h.account_id,
                source=h.source,
            )
            for h in directory.qualification_history(db, structure_id)
        ]

    return await state.db.run(read)


@router.post(
    "/structures/import",
    responses=error_responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
        }
    },
)
async def import_structures(
    request: Request,
    state: State,
    user: CurrentUser,
    format: Annotated[Format, Query()] = "csv",  # noqa: A002 (the query parameter's name)
    dry_run: Annotated[bool, Query()] = False,
) -> ImportReport:
    """Import a whole file of the national *lieux de médiation numérique* schema (CSV:
    comma-separated UTF-8, lists joined with `|`; JSON: a list of objects), all or nothing:
    any wrong row (reported in French with its line) and nothing is written. Upserts by the
    schema's `id`; a re-import of the same file changes nothing. 422 when rows are wrong."""
    access.require_admin(user)
    content = await request.body()

    def write(db: Session) -> directory.ImportPlan:
        return directory.import_file(
            db,
            user.programme_code,
            content,
            format,
            dry_run=dry_run,
            at=now_utc(),
            account_id=user.id,
        )

    plan = await state.db.run(write, write=not dry_run)
    summary = plan.summary()
    report = ImportReport(
        dry_run=dry_run,
        applied=not dry_run and not plan.errors,
        created=summary["created"],
        updated=summary["updated"],
        unchanged=summary["unchanged"],
        errors=summary["errors"],
    )
    if plan.errors:
        raise ApiError(
            422,
            "invalid_file",
            f"Fichier refusé : {len(plan.errors)} erreur(s), rien n'a été importé.",
            report.errors,
        )
    return report


@router.get(
    "/structures/export",
    response_class=Response,
    responses={
        200: {
            "content": {**CSV_CONTENT, "application/json": {"schema": {"type": "array"}}},
            "description": "Les lieux au schéma national : CSV (UTF-8, « , », listes jointes "
            "par « | ») ou JSON (liste d'objets)",
        },
        **error_responses(401, 422),
    },
)
async def export_structures(
    state: State,
    user: CurrentUser,
    format: Annotated[Format, Query()] = "csv",  # noqa: A002 (the query parameter's name)
) -> Response:
    """The programme's mediation places in the national schema (CSV or JSON), for every
    signed-in user (reference data)."""
    rows = await state.db.run(lambda db: directory.export_places(db, user.programme_code))
    if format == "json":
        content, media = to_json(rows), "application/json"
    else:
        content, media = to_csv(rows), "text/csv; charset=utf-8"
    return Response(
        content, media_type=media, headers=attachment(f"lieux-mediation-numerique.{format}")
    )
