"""Reference data of a programme, loaded from a JSON file (the Aveyron default ships here)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from domain.needs import Theme
from domain.stages import Role
from records import policy
from records.ledger import ensure_rule
from records.models import (
    BudgetLine,
    Epci,
    Funder,
    FunderKind,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ReceptionStructure,
)
from records.programme_file import MediationSpec, ProgrammeFile, ReceptionSpec, parse

DEFAULT_PROGRAMME_FILE = Path(__file__).with_name("aveyron.json")
EMAIL_DOMAIN = "aveyron.example"  # reserved domain: the demo's mail sink catches it all


def load_programme_file(path: Path = DEFAULT_PROGRAMME_FILE) -> ProgrammeFile:
    """A programme file, checked (records.programme_file: ProgrammeFileError if wrong)."""
    return parse(path.read_bytes())


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def basis_points(amounts: list[int]) -> list[int]:
    """Shares of a total in basis points, summing to exactly 10 000 (largest remainder)."""
    total = sum(amounts)
    exact = [a * 10_000 / total for a in amounts]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(amounts)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: 10_000 - sum(shares)]:
        shares[i] += 1
    return shares


def _place(spec: ReceptionSpec | MediationSpec) -> dict[str, Any]:
    """The columns both kinds of structure share, as the file gives them."""
    return {
        "name": spec.name,
        "commune": spec.commune,
        "email": spec.email,
        "siret": spec.siret,
        "address": spec.address,
        "postal_code": spec.postal_code,
        "insee_code": spec.insee_code,
        "phone": spec.phone,
        "opening_hours": spec.opening_hours,
    }


def seed_programme(session: Session, spec: ProgrammeFile) -> Programme:
    """Insert a checked programme file: the programme, its policy row (today's defaults),
    EPCI, funders and their budget lines, structures, and its funding rule (derived from the
    budget lines). The one writer of a new programme (records.programmes checks what the
    database must answer first). Flushes; the caller commits."""
    p = spec.programme
    programme = Programme(
        code=p.code,
        name=p.name,
        territory=p.territory,
        issuer_name=p.issuer_name,
        cheque_value_cents=p.cheque_value_cents,
        cheques_per_booklet=p.cheques_per_booklet,
        grace_months=p.grace_months,
        budget_total_cents=spec.budget_total_cents,
        starts_on=p.starts_on,
        ends_on=p.ends_on,
        target_booklets=p.target_booklets,
    )
    session.add(programme)
    session.flush()
    assert programme.id is not None
    session.add(policy.default_row(programme.id))

    # Rows of a kind are added together and flushed once (one batched INSERT), in the
    # file's order: ids follow the file.
    epcis = [Epci(programme_id=programme.id, siren=e.siren, name=e.name) for e in spec.epci]
    session.add_all(epcis)
    session.flush()
    epci_ids: dict[str, int] = {}
    for e, row in zip(spec.epci, epcis, strict=True):
        assert row.id is not None
        epci_ids[e.key] = row.id

    shares = basis_points([f.amount_cents for f in spec.funders])
    funders = [
        Funder(
            programme_id=programme.id,
            name=f.name,
            kind=FunderKind(f.kind).value,
            epci_id=epci_ids[f.epci] if f.epci else None,
            share_bp=share,
        )
        for f, share in zip(spec.funders, shares, strict=True)
    ]
    session.add_all(funders)
    session.flush()
    for f, funder in zip(spec.funders, funders, strict=True):
        assert funder.id is not None
        for line in f.budget_lines:
            session.add(
                BudgetLine(
                    programme_id=programme.id,
                    funder_id=funder.id,
                    label=line.label,
                    amount_cents=line.amount_cents,
                )
            )

    for r in spec.reception_structures:
        session.add(
            ReceptionStructure(
                programme_id=programme.id, epci_id=epci_ids[r.epci], kind=r.kind, **_place(r)
            )
        )

    mediation = [
        MediationStructure(
            programme_id=programme.id,
            epci_id=epci_ids[m.epci],
            aptic_qualified_from=m.qualified_from,
            aptic_qualified_until=m.qualified_until,
            themes=[Theme(t).value for t in m.themes],
            capacity=m.capacity,
            external_id=m.external_id,
            **_place(m),
        )
        for m in spec.mediation_structures
    ]
    session.add_all(mediation)
    session.flush()
    for m, structure in zip(spec.mediation_structures, mediation, strict=True):
        assert structure.id is not None
        for served in dict.fromkeys([m.epci, *m.serves]):  # its own EPCI first, once
            session.add(
                MediationStructureEpci(
                    mediation_structure_id=structure.id, epci_id=epci_ids[served]
                )
            )
    session.flush()
    ensure_rule(session, programme)  # the funding rule derived from the budget lines
    return programme


def seed_default_programme(session: Session) -> bool:
    """Load the Aveyron programme if the database has no programme yet. True if it did."""
    if session.exec(select(Programme.id).limit(1)).first() is not None:
        return False
    seed_programme(session, load_programme_file())
    return True


# ---- demo accounts (dev mode only) ----

DEMO_PASSWORD = "passnum-demo"  # printed by `passnum up`; never seeded outside dev mode


@dataclass(frozen=True)
class DemoAccount:
    email: str
    full_name: str
    role: Role
    where: str  # French, for the banner


@dataclass(frozen=True)
class HomeStructures:
    """A programme's first EPCI, and its first reception and qualified mediation structures:
    where the demo accounts (and the tests' accounts of each role) work."""

    programme: Programme
    epci: Epci
    reception: ReceptionStructure
    mediation: MediationStructure


def home_structures(session: Session, programme_code: int) -> HomeStructures:
    """The programme's home structures (see HomeStructures)."""
    programme = session.exec(select(Programme).where(Programme.code == programme_code)).one()
    epci = session.exec(
        select(Epci).where(Epci.programme_id == programme.id).order_by(col(Epci.id))
    ).first()
    assert epci is not None and epci.id is not None
    reception = session.exec(
        select(ReceptionStructure)
        .where(ReceptionStructure.epci_id == epci.id)
        .order_by(col(ReceptionStructure.id))
    ).first()
    mediation = session.exec(
        select(MediationStructure)
        .where(
            MediationStructure.epci_id == epci.id,
            col(MediationStructure.aptic_qualified_until).is_(None),
        )
        .order_by(col(MediationStructure.id))
    ).first()
    assert reception is not None and mediation is not None
    return HomeStructures(programme, epci, reception, mediation)


def seed_demo_accounts(
    session: Session, *, programme_code: int, now: datetime, password_hash: str
) -> list[DemoAccount]:
    """One account per role around the programme's first EPCI (Rodez Agglomération in
    Aveyron), all with the same demo password (its hash is given: hashed once per run).
    Idempotent: existing e-mails are left alone. Returns every demo account."""
    from records.accounts import create_account, get_account_by_email

    home = home_structures(session, programme_code)
    programme, epci, reception, mediation = (
        home.programme,
        home.epci,
        home.reception,
        home.mediation,
    )
    specs: list[tuple[DemoAccount, dict[str, int | None]]] = [
        (
            DemoAccount(
                f"travailleur.social@{EMAIL_DOMAIN}",
                "Camille Travailleuse-Sociale",
                Role.SOCIAL_WORKER,
                reception.name,
            ),
            {"reception_structure_id": reception.id},
        ),
        (
            DemoAccount(
                f"mediateur@{EMAIL_DOMAIN}", "Dominique Médiateur", Role.MEDIATOR, mediation.name
            ),
            {"mediation_structure_id": mediation.id},
        ),
        (
            DemoAccount(
                f"coordination.epci@{EMAIL_DOMAIN}",
                "Claude Coordinatrice",
                Role.COORDINATOR,
                epci.name,
            ),
            {"epci_id": epci.id},
        ),
        (
            DemoAccount(
                f"coordination@{EMAIL_DOMAIN}",
                "Alix Coordinateur",
                Role.COORDINATOR,
                f"tout le programme ({programme.name})",
            ),
            {},
        ),
        (
            DemoAccount(
                f"admin@{EMAIL_DOMAIN}", "Sacha Administratrice", Role.ADMINISTRATOR, "comptes"
            ),
            {},
        ),
    ]
    for demo, scope in specs:
        if get_account_by_email(session, demo.email) is None:
            create_account(
                session,
                email=demo.email,
                full_name=demo.full_name,
                role=demo.role,
                programme_code=programme_code,
                now=now,
                password_hash=password_hash,
                **scope,  # type: ignore[arg-type]
            )
    session.flush()
    return [demo for demo, _ in specs]


def seed_demo(db_url: str, *, programme_code: int, now: datetime) -> list[DemoAccount]:
    """Dev mode (`passnum up`): the demo accounts in the database at `db_url`, committed."""
    from records.accounts import hash_password
    from records.db import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            demo = seed_demo_accounts(
                session,
                programme_code=programme_code,
                now=now,
                password_hash=hash_password(DEMO_PASSWORD),
            )
            session.commit()
    finally:
        engine.dispose()
    return demo


def demo_logins_text(demo: list[DemoAccount], pages_url: str) -> str:
    """What `passnum up` prints about the demo accounts (French)."""
    width = max(len(d.email) for d in demo)
    lines = [
        "",
        f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) — pages : {pages_url}",
        *(f"  {d.email.ljust(width)}  {d.full_name} — {d.where}" for d in demo),
        "Ces comptes n'existent qu'en mode dev (PASSNUM_ENVIRONMENT=dev).",
    ]
    return "\n".join(lines)
