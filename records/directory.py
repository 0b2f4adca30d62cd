"""The structures directory: administrators' changes to mediation and reception structures,
the history of APTIC qualification periods, and the import / export of the national *lieux de
médiation numérique* files (domain.directory).

An import is planned first (`plan_import`: every row checked against the database, nothing
written), then applied whole (`apply_import`) only if no row is wrong: nothing is ever
half-imported. Re-importing the same file plans no change. Writers only flush; the caller
commits (and calls `records.db.begin_write` first on SQLite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.directory import THEME_THEMATICS, Place, RowError, parse_file
from domain.needs import Theme
from domain.rights import AuditAction
from records import audit
from records.models import (
    AdminAudit,
    Epci,
    MediationQualification,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ReceptionStructure,
)
from records.structures import StructureError

# Structure attribute for each column of the schema (domain.directory.COLUMNS).
ATTRIBUTES = {
    "pivot": "siret",
    "nom": "name",
    "adresse": "address",
    "code_postal": "postal_code",
    "code_insee": "insee_code",
    "commune": "commune",
    "courriels": "email",
    "telephone": "phone",
    "horaires": "opening_hours",
    "thematiques": "themes",
    "epci_siren": "epci_id",
    "capacite": "capacity",
    "aptic_debut": "aptic_qualified_from",
    "aptic_fin": "aptic_qualified_until",
    "actif": "active",
}
# Columns whose empty cell keeps the current value (the structure needs one).
_KEEP_WHEN_EMPTY = ("epci_siren", "capacite", "aptic_debut", "aptic_fin")
_NEEDED_TO_CREATE = ("epci_siren", "capacite", "aptic_debut")


def qualification_history(session: Session, structure_id: int) -> list[MediationQualification]:
    """Every period set on the structure, oldest first."""
    return list(
        session.exec(
            select(MediationQualification)
            .where(MediationQualification.mediation_structure_id == structure_id)
            .order_by(col(MediationQualification.recorded_at), col(MediationQualification.id))
        ).all()
    )


def programme_id(session: Session, programme_code: int) -> int:
    found = session.exec(select(Programme.id).where(Programme.code == programme_code)).first()
    assert found is not None, programme_code
    return found


def epci_of(session: Session, programme_code: int, epci_id: int) -> Epci:
    epci = session.get(Epci, epci_id)
    if epci is None or epci.programme_id != programme_id(session, programme_code):
        raise StructureError("epci_id", "Cet EPCI n'est pas un EPCI du programme.")
    return epci


def serve(session: Session, structure_id: int, epci_id: int) -> None:
    """The mediation structure serves `epci_id` (kept if it already does)."""
    if session.get(MediationStructureEpci, (structure_id, epci_id)) is None:
        session.add(MediationStructureEpci(mediation_structure_id=structure_id, epci_id=epci_id))


def apply_changes(
    structure: MediationStructure | ReceptionStructure, changes: dict[str, Any]
) -> dict[str, list[Any]]:
    """Set the attributes that differ; returns {attribute: [before, after]} for those."""
    done: dict[str, list[Any]] = {}
    for name, value in changes.items():
        before = getattr(structure, name)
        if before != value:
            setattr(structure, name, value)
            done[name] = [_plain(before), _plain(value)]
    return done


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# ---- administrators' changes ----

# Attributes an administrator may set, per kind (the structure's own id and programme aside).
COMMON_FIELDS = (
    "name",
    "epci_id",
    "commune",
    "email",
    "siret",
    "address",
    "postal_code",
    "insee_code",
    "phone",
    "opening_hours",
    "active",
)
RECEPTION_FIELDS = (*COMMON_FIELDS, "kind")
MEDIATION_FIELDS = (
    *COMMON_FIELDS,
    "external_id",
    "themes",
    "capacity",
    "aptic_qualified_from",
    "aptic_qualified_until",
)
Structure = MediationStructure | ReceptionStructure


def _target(structure: Structure) -> str:
    kind = "mediation" if isinstance(structure, MediationStructure) else "reception"
    return f"{kind}_structure:{structure.id}"


def create_structure(
    session: Session,
    programme_code: int,
    kind: str,
    values: dict[str, Any],
    *,
    at: datetime,
    account_id: int | None,
    source: str,
    idempotency_key: str | None = None,
) -> Structure:
    """A new reception ("reception") or mediation ("mediation") structure, audit-logged (with
    the caller's idempotency key, by which `created_by_key` finds it again)."""
    pid = programme_id(session, programme_code)
    epci_of(session, programme_code, values["epci_id"])
    structure: Structure
    if kind == "mediation":
        _check_period(values.get("aptic_qualified_from"), values.get("aptic_qualified_until"))
        if values.get("external_id") and _by_external_id(session, pid, values["external_id"]):
            raise StructureError("external_id", "Cet identifiant est déjà celui d'un lieu.")
        structure = MediationStructure(
            programme_id=pid, **{k: v for k, v in values.items() if k in MEDIATION_FIELDS}
        )
    else:
        structure = ReceptionStructure(
            programme_id=pid, **{k: v for k, v in values.items() if k in RECEPTION_FIELDS}
        )
    session.add(structure)
    session.flush()
    assert structure.id is not None
    if isinstance(structure, MediationStructure):
        serve(session, structure.id, structure.epci_id)
        _history(session, structure, at=at, account_id=account_id, source=source)
    audit.record(
        session,
        at=at,
        programme_code=programme_code,
        account_id=account_id,
        action=AuditAction.STRUCTURE_CREATED,
        target=_target(structure),
        details={"name": structure.name, "idempotency_key": idempotency_key},
    )
    return structure


def created_by_key(
    session: Session, programme_code: int, account_id: int | None, key: str
) -> str | None:
    """The audit target ("mediation_structure:12") of the structure this account created
    with idempotency key `key`, if any."""
    rows = session.exec(
        select(AdminAudit)
        .where(
            AdminAudit.programme_code == programme_code,
            AdminAudit.account_id == account_id,
            AdminAudit.action == AuditAction.STRUCTURE_CREATED.value,
        )
        .order_by(col(AdminAudit.id).desc())
    ).all()
    return next((r.target for r in rows if r.details.get("idempotency_key") == key), None)


def update_structure(
    session: Session,
    programme_code: int,
    structure: Structure,
    values: dict[str, Any],
    *,
    at: datetime,
    account_id: int | None,
    source: str,
) -> dict[str, list[Any]]:
    """Set the given attributes; returns those that changed ({name: [before, after]}),
    audit-logged (deactivation as its own action). A new qualification period is appended
    to the history. Changing nothing logs nothing."""
    allowed = MEDIATION_FIELDS if isinstance(structure, MediationStructure) else RECEPTION_FIELDS
    values = {k: v for k, v in values.items() if k in allowed}
    if "epci_id" in values:
        epci_of(session, programme_code, values["epci_id"])
    if isinstance(structure, MediationStructure):
        _check_period(
            values.get("aptic_qualified_from", structure.aptic_qualified_from),
            values.get("aptic_qualified_until", structure.aptic_qualified_until),
        )
        wanted = values.get("external_id")
        if wanted and wanted != structure.external_id:
            other = _by_external_id(session, structure.programme_id, wanted)
            if other is not None:
                raise StructureError("external_id", "Cet identifiant est déjà celui d'un lieu.")
    changes = apply_changes(structure, values)
    if not changes:
        return changes
    session.add(structure)
    session.flush()
    assert structure.id is not None
    if isinstance(structure, MediationStructure):
        if "epci_id" in changes:
            serve(session, structure.id, structure.epci_id)
        if {"aptic_qualified_from", "aptic_qualified_until"} & changes.keys():
            _history(session, structure, at=at, account_id=account_id, source=source)
    deactivated = changes.get("active") == [True, False]
    audit.record(
        session,
        at=at,
        programme_code=programme_code,
        account_id=account_id,
        action=AuditAction.STRUCTURE_DEACTIVATED if deactivated else AuditAction.STRUCTURE_UPDATED,
        target=_target(structure),
        details={"name": structure.name, "changes": changes},
    )
    return changes


def _check_period(start: date | None, end: date | None) -> None:
    if start is None:
        raise StructureError("aptic_qualified_from", "Indiquez le début de la qualification.")
    if end is not None and end < start:
        raise StructureError(
            "aptic_qualified_until", "La fin de la qualification ne peut pas précéder son début."
        )


def _by_external_id(session: Session, pid: int, external_id: str) -> MediationStructure | None:
    return session.exec(
        select(MediationStructure).where(
            MediationStructure.programme_id == pid,
            MediationStructure.external_id == external_id,
        )
    ).first()


def _history(
    session: Session,
    structure: MediationStructure,
    *,
    at: datetime,
    account_id: int | None,
    source: str,
) -> None:
    assert structure.id is not None
    session.add(
        MediationQualification(
            mediation_structure_id=structure.id,
            qualified_from=structure.aptic_qualified_from,
            qualified_until=structure.aptic_qualified_until,
            recorded_at=at,
            account_id=account_id,
            source=source,
        )
    )  # flushed by the caller


# ---- import ----


@dataclass
class PlannedPlace:
    line: int
    place: Place
    structure: MediationStructure | None  # None: to create
    changes: dict[str, Any] = field(default_factory=dict)  # attribute -> new value


@dataclass
class ImportPlan:
    created: list[PlannedPlace] = field(default_factory=list)
    updated: list[PlannedPlace] = field(default_factory=list)
    unchanged: list[PlannedPlace] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated)

    def summary(self) -> dict[str, Any]:
        return {
            "created": [p.place.external_id for p in self.created],
            "updated": {
                p.place.external_id: sorted(_column_of(a) for a in p.changes) for p in self.updated
            },
            "unchanged": len(self.unchanged),
            "errors": [str(e) for e in self.errors],
        }


def report_lines(plan: ImportPlan, *, dry_run: bool) -> list[str]:
    """The plan in French, as the command line and the administrators' page show it."""
    if plan.errors:
        return [
            f"Fichier refusé : {len(plan.errors)} erreur(s), rien n'a été importé.",
            *(str(e) for e in plan.errors),
        ]
    lines = [
        f"{len(plan.created)} lieu(x) {'à créer' if dry_run else 'créé(s)'}, "
        f"{len(plan.updated)} {'à modifier' if dry_run else 'modifié(s)'}, "
        f"{len(plan.unchanged)} inchangé(s)."
    ]
    lines += [f"Création : {p.place.external_id} ({p.place.name})" for p in plan.created]
    lines += [
        f"Modification : {p.place.external_id} ({', '.join(sorted(map(_column_of, p.changes)))})"
        for p in plan.updated
    ]
    if dry_run:
        lines.append("Essai à blanc : rien n'a été écrit.")
    return lines


def _column_of(attribute: str) -> str:
    return next(c for c, a in ATTRIBUTES.items() if a == attribute)


def _wanted(place: Place, epci_ids: dict[str, int]) -> dict[str, Any]:
    """Attribute values the row asks for (only the columns the file has)."""
    values: dict[str, Any] = {
        "siret": place.siret,
        "name": place.name,
        "address": place.address,
        "postal_code": place.postal_code,
        "insee_code": place.insee_code,
        "commune": place.commune,
        "email": place.email,
        "phone": place.phone,
        "opening_hours": place.opening_hours,
        "themes": list(place.themes),
        "epci_id": epci_ids.get(place.epci_siren) if place.epci_siren else None,
        "capacity": place.capacity,
        "aptic_qualified_from": place.qualified_from,
        "aptic_qualified_until": place.qualified_until if place.qualified_from else None,
        "active": place.active,
    }
    wanted: dict[str, Any] = {}
    for column, attribute in ATTRIBUTES.items():
        if column not in place.present:
            continue
        open_ended = column == "aptic_fin" and place.qualified_from is not None
        if column in _KEEP_WHEN_EMPTY and values[attribute] is None and not open_ended:
            continue
        wanted[attribute] = values[attribute]
    return wanted


def _same(attribute: str, current: Any, wanted: Any) -> bool:
    if attribute == "themes":  # a set: the order a structure's themes were listed in is kept
        return set(current) == set(wanted)
    return bool(current == wanted)


def plan_import(
    session: Session,
    programme_code: int,
    rows: list[tuple[int, Place]],
    errors: list[RowError] | None = None,
    *,
    unit: str = "Ligne",
) -> ImportPlan:
    """What importing `rows` (line, place) would do; `errors` from parsing are kept. Reads
    only (three queries)."""
    plan = ImportPlan(errors=list(errors or []))
    pid = programme_id(session, programme_code)
    existing = {
        export_id(s): s
        for s in session.exec(
            select(MediationStructure).where(MediationStructure.programme_id == pid)
        ).all()
    }
    epci_ids = {
        e.siren: e.id
        for e in session.exec(select(Epci).where(Epci.programme_id == pid)).all()
        if e.id is not None
    }
    seen: dict[str, int] = {}
    for line, place in rows:
        if place.external_id in seen:
            plan.errors.append(
                RowError(
                    line,
                    "id",
                    f"identifiant « {place.external_id} » déjà présent "
                    f"{unit.lower()} {seen[place.external_id]}.",
                    unit,
                )
            )
            continue
        seen[place.external_id] = line
        if place.epci_siren and place.epci_siren not in epci_ids:
            plan.errors.append(
                RowError(
                    line,
                    "epci_siren",
                    f"aucun EPCI du programme n'a le SIREN « {place.epci_siren} ».",
                    unit,
                )
            )
            continue
        wanted = _wanted(place, epci_ids)
        structure = existing.get(place.external_id)
        if structure is None:
            missing = [c for c in _NEEDED_TO_CREATE if ATTRIBUTES[c] not in wanted]
            for column in missing:
                plan.errors.append(
                    RowError(line, column, "valeur obligatoire pour un nouveau lieu.", unit)
                )
            if not missing:
                plan.created.append(PlannedPlace(line, place, None, wanted))
            continue
        changes = {a: v for a, v in wanted.items() if not _same(a, getattr(structure, a), v)}
        planned = PlannedPlace(line, place, structure, changes)
        (plan.updated if changes else plan.unchanged).append(planned)
    plan.errors.sort(key=lambda e: (e.line, e.column))
    return plan


def apply_import(session: Session, programme_code: int, plan: ImportPlan, *, at: datetime) -> None:
    """Write a plan without errors (refused otherwise: nothing is half-imported)."""
    if plan.errors:
        raise ValueError("an import with errors is never applied")
    pid = programme_id(session, programme_code)
    new: list[tuple[MediationStructure, PlannedPlace]] = []
    for planned in plan.created:
        values = dict(planned.changes)
        values.setdefault("aptic_qualified_until", None)
        structure = MediationStructure(
            programme_id=pid, external_id=planned.place.external_id, **values
        )
        session.add(structure)
        new.append((structure, planned))
    session.flush()
    qualified: list[MediationStructure] = [s for s, _ in new]
    for created, _ in new:
        assert created.id is not None
        session.add(
            MediationStructureEpci(mediation_structure_id=created.id, epci_id=created.epci_id)
        )
    for planned in plan.updated:
        target = planned.structure
        assert target is not None and target.id is not None
        period = (target.aptic_qualified_from, target.aptic_qualified_until)
        apply_changes(target, planned.changes)
        target.external_id = planned.place.external_id
        session.add(target)
        if "epci_id" in planned.changes:
            serve(session, target.id, target.epci_id)
        if (target.aptic_qualified_from, target.aptic_qualified_until) != period:
            qualified.append(target)
    session.flush()
    for structure in qualified:
        _history(session, structure, at=at, account_id=None, source="import")
    session.flush()


# ---- export ----


def export_id(structure: MediationStructure) -> str:
    """The schema's `id` of a structure: the imported one, else ours (`passnum-<id>`), which
    a re-import of the export recognises."""
    return structure.external_id or f"passnum-{structure.id}"


def export_places(session: Session, programme_code: int) -> list[dict[str, Any]]:
    """The programme's mediation structures as rows of the schema (JSON-ready values)."""
    pid = programme_id(session, programme_code)
    sirens = {
        e.id: e.siren for e in session.exec(select(Epci).where(Epci.programme_id == pid)).all()
    }
    rows: list[dict[str, Any]] = []
    for s in session.exec(
        select(MediationStructure)
        .where(MediationStructure.programme_id == pid)
        .order_by(col(MediationStructure.id))
    ).all():
        rows.append(
            {
                "id": export_id(s),
                "pivot": s.siret or "",
                "nom": s.name,
                "adresse": s.address or "",
                "code_postal": s.postal_code or "",
                "code_insee": s.insee_code or "",
                "commune": s.commune,
                "courriels": [s.email] if s.email else [],
                "telephone": s.phone or "",
                "horaires": s.opening_hours or "",
                "thematiques": [THEME_THEMATICS[Theme(t)] for t in s.themes],
                "date_maj": "",
                "epci_siren": sirens.get(s.epci_id, ""),
                "capacite": s.capacity,
                "aptic_debut": s.aptic_qualified_from.isoformat(),
                "aptic_fin": (
                    s.aptic_qualified_until.isoformat() if s.aptic_qualified_until else ""
                ),
                "actif": "oui" if s.active else "non",
            }
        )
    return rows


def import_file(
    session: Session,
    programme_code: int,
    content: bytes,
    fmt: str,
    *,
    dry_run: bool,
    at: datetime,
    account_id: int | None,
) -> ImportPlan:
    """Parse, check and (unless `dry_run` or any error) apply a whole file, audit-logged
    when it changes something. The plan says what was (or would be) done."""
    parsed = parse_file(content, fmt)
    plan = plan_import(session, programme_code, parsed.rows, parsed.errors, unit=parsed.unit)
    if dry_run or plan.errors or not plan.changes:
        return plan
    apply_import(session, programme_code, plan, at=at)
    audit.record(
        session,
        at=at,
        programme_code=programme_code,
        account_id=account_id,
        action=AuditAction.STRUCTURES_IMPORTED,
        target="mediation_structure:*",
        details={
            "format": fmt,
            "created": len(plan.created),
            "updated": len(plan.updated),
            "unchanged": len(plan.unchanged),
        },
    )
    return plan
