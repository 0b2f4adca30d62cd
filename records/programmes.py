"""Programmes of the instance: create one from a checked programme file (the command line,
the API and the administrators' page all come here), list them.

A programme file is checked first (records.programme_file: everything the file alone can
tell); `create_programme` then refuses a serial prefix (`Programme.code`) another programme
already uses, and writes through records.seed.seed_programme, the one writer of a new
programme, in the caller's unit of work: nothing is half-created. Writers only flush; the
caller commits (and calls `records.db.begin_write` first on SQLite).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from domain.money import format_euros
from domain.rights import AuditAction
from domain.stages import Role
from records import audit, memberships
from records.models import (
    Account,
    BudgetLine,
    Epci,
    Funder,
    MediationStructure,
    Programme,
    ReceptionStructure,
)
from records.programme_file import ProgrammeFile
from records.seed import seed_programme


class ProgrammeCodeTaken(Exception):
    """The file's serial prefix is another programme's (cheque serials would collide)."""

    def __init__(self, code: int, name: str) -> None:
        self.code = code
        self.name = name
        self.message = (  # placed after « ligne 5, programme.code : »
            f"le préfixe de numéro de chèque {code:03d} est déjà celui du programme « {name} » : "
            "choisissez-en un autre"
        )
        super().__init__(self.message)

    @property
    def sentence(self) -> str:
        """The message on its own."""
        return f"Le{self.message[2:]} (programme.code)."


@dataclass(frozen=True)
class ProgrammeSummary:
    id: int
    code: int
    name: str
    territory: str
    issuer_name: str
    starts_on: date
    ends_on: date | None
    target_booklets: int | None
    budget_total_cents: int
    cheque_value_cents: int
    cheques_per_booklet: int
    epci: int
    funders: int
    budget_lines: int
    reception_structures: int
    mediation_structures: int

    @property
    def prefix(self) -> str:
        return f"{self.code:03d}"


def taken_by(session: Session, code: int) -> Programme | None:
    return session.exec(select(Programme).where(Programme.code == code)).first()


def check_code_free(session: Session, spec: ProgrammeFile) -> None:
    other = taken_by(session, spec.programme.code)
    if other is not None:
        raise ProgrammeCodeTaken(spec.programme.code, other.name)


def plan_lines(spec: ProgrammeFile) -> list[str]:
    """What creating the programme writes, in French (the dry run's report)."""
    p = spec.programme
    period = (
        p.starts_on.strftime("%d/%m/%Y")
        + " – "
        + (p.ends_on.strftime("%d/%m/%Y") if p.ends_on else "fin non fixée")
    )
    lines = [
        f"Programme « {p.name} » ({p.territory}), préfixe de numéro de chèque {p.code:03d}, "
        f"période {period}.",
        f"Émetteur : {p.issuer_name} ; chèques de {format_euros(p.cheque_value_cents)}, "
        f"{p.cheques_per_booklet} par carnet, délai de grâce {p.grace_months} mois"
        + (f" ; objectif {p.target_booklets} carnets." if p.target_booklets else "."),
        f"{len(spec.epci)} EPCI.",
        f"{len(spec.funders)} financeur(s), "
        f"{sum(len(f.budget_lines) for f in spec.funders)} ligne(s) budgétaire(s), "
        f"budget total {format_euros(spec.budget_total_cents)} :",
        *(f"  {f.name} : {format_euros(f.amount_cents)}" for f in spec.funders),
        f"{len(spec.reception_structures)} structure(s) d'accueil, "
        f"{len(spec.mediation_structures)} structure(s) de médiation.",
        "Règles du programme : les valeurs par défaut (modifiables ensuite dans Règles) ; "
        "règle de financement tirée des lignes budgétaires.",
    ]
    return lines


def create_programme(
    session: Session,
    spec: ProgrammeFile,
    *,
    at: datetime,
    account_id: int | None,
    audit_programme_code: int | None = None,
) -> Programme:
    """Write the programme of a checked file, audit-logged (under `audit_programme_code`,
    the acting administrator's programme; else the new one's). The acting administrator
    (`account_id`) is its administrator too: they choose it in the header and create its
    accounts. Raises ProgrammeCodeTaken."""
    check_code_free(session, spec)
    try:
        with session.begin_nested():  # a concurrent creation of the same code: refused alike
            programme = seed_programme(session, spec)
    except IntegrityError:
        other = taken_by(session, spec.programme.code)
        if other is None:
            raise
        raise ProgrammeCodeTaken(spec.programme.code, other.name) from None
    assert programme.id is not None
    audit.record(
        session,
        at=at,
        programme_code=audit_programme_code or programme.code,
        account_id=account_id,
        action=AuditAction.PROGRAMME_CREATED,
        target=f"programme:{programme.id}",
        details={
            "code": programme.code,
            "name": programme.name,
            "epci": len(spec.epci),
            "funders": len(spec.funders),
            "reception_structures": len(spec.reception_structures),
            "mediation_structures": len(spec.mediation_structures),
        },
    )
    creator = session.get(Account, account_id) if account_id is not None else None
    if creator is not None:
        memberships.grant(
            session,
            creator,
            memberships.Membership(programme.code, Role.ADMINISTRATOR),
            now=at,
            granted_by=account_id,
        )
    return programme


def _counts(session: Session, column: Any) -> dict[int, int]:
    rows = session.execute(select(column, func.count()).group_by(column))
    return {int(pid): int(n) for pid, n in rows}


def list_programmes(
    session: Session, codes: Collection[int] | None = None
) -> list[ProgrammeSummary]:
    """The programmes of the instance (those of `codes` only, if given), by serial prefix,
    with what they hold."""
    counts = {
        "epci": _counts(session, col(Epci.programme_id)),
        "funders": _counts(session, col(Funder.programme_id)),
        "budget_lines": _counts(session, col(BudgetLine.programme_id)),
        "reception_structures": _counts(session, col(ReceptionStructure.programme_id)),
        "mediation_structures": _counts(session, col(MediationStructure.programme_id)),
    }
    out = []
    query = select(Programme).order_by(col(Programme.code))
    if codes is not None:
        query = query.where(col(Programme.code).in_(list(codes)))
    for p in session.exec(query):
        assert p.id is not None
        out.append(
            ProgrammeSummary(
                id=p.id,
                code=p.code,
                name=p.name,
                territory=p.territory,
                issuer_name=p.issuer_name,
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                target_booklets=p.target_booklets,
                budget_total_cents=p.budget_total_cents,
                cheque_value_cents=p.cheque_value_cents,
                cheques_per_booklet=p.cheques_per_booklet,
                **{name: found.get(p.id, 0) for name, found in counts.items()},
            )
        )
    return out


def summary_of(session: Session, programme_id: int) -> ProgrammeSummary:
    return next(s for s in list_programmes(session) if s.id == programme_id)
