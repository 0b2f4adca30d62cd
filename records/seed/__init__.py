"""Reference data of a programme, loaded from a JSON file (the Aveyron default ships here)."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

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

DEFAULT_PROGRAMME_FILE = Path(__file__).with_name("aveyron.json")
APTIC_QUALIFIED_FROM = date(2020, 1, 1)
EMAIL_DOMAIN = "aveyron.example"  # reserved domain: the demo's mail sink catches it all


def load_programme_file(path: Path = DEFAULT_PROGRAMME_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


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


def seed_programme(session: Session, data: dict[str, Any]) -> Programme:
    """Insert a programme and its reference data. Flushes; the caller commits."""
    p = data["programme"]
    epci_rows = data["epci"]
    funders = data["funders"]
    # One funder and one budget line each: the Département, every EPCI, the State.
    lines: list[tuple[str, FunderKind, str | None]] = [
        (funders["departement"]["name"], FunderKind.DEPARTEMENT, None),
        *((e["name"], FunderKind.EPCI, e["key"]) for e in epci_rows),
        (funders["etat"]["name"], FunderKind.ETAT, None),
    ]
    amounts = [
        funders["departement"]["amount_cents"],
        *(e["budget_cents"] for e in epci_rows),
        funders["etat"]["amount_cents"],
    ]

    programme = Programme(
        code=p["code"],
        name=p["name"],
        territory=p["territory"],
        issuer_name=p["issuer_name"],
        cheque_value_cents=p["cheque_value_cents"],
        cheques_per_booklet=p["cheques_per_booklet"],
        grace_months=p["grace_months"],
        budget_total_cents=sum(amounts),
        starts_on=date.fromisoformat(p["starts_on"]),
        ends_on=date.fromisoformat(p["ends_on"]) if p.get("ends_on") else None,
        target_booklets=p.get("target_booklets"),
    )
    session.add(programme)
    session.flush()
    assert programme.id is not None
    session.add(policy.default_row(programme.id))

    epci_by_key: dict[str, Epci] = {}
    for e in epci_rows:
        epci = Epci(programme_id=programme.id, siren=e["siren"], name=e["name"])
        session.add(epci)
        epci_by_key[e["key"]] = epci
    session.flush()

    for (name, kind, epci_key), amount, share in zip(
        lines, amounts, basis_points(amounts), strict=True
    ):
        funder = Funder(
            programme_id=programme.id,
            name=name,
            kind=kind.value,
            epci_id=epci_by_key[epci_key].id if epci_key else None,
            share_bp=share,
        )
        session.add(funder)
        session.flush()
        assert funder.id is not None
        session.add(
            BudgetLine(
                programme_id=programme.id,
                funder_id=funder.id,
                label=f"Participation : {name}",
                amount_cents=amount,
            )
        )

    for epci_key, kind, name, commune in data["reception_structures"]:
        epci_id = epci_by_key[epci_key].id
        assert epci_id is not None
        session.add(
            ReceptionStructure(
                programme_id=programme.id,
                epci_id=epci_id,
                name=name,
                kind=kind,
                commune=commune,
                email=f"{slug(name)}@{EMAIL_DOMAIN}",
            )
        )

    for m in data["mediation_structures"]:
        epci_id = epci_by_key[m["epci"]].id
        assert epci_id is not None
        until = m.get("qualified_until")
        structure = MediationStructure(
            programme_id=programme.id,
            epci_id=epci_id,
            name=m["name"],
            commune=m["commune"],
            email=f"{slug(m['name'])}@{EMAIL_DOMAIN}",
            aptic_qualified_from=APTIC_QUALIFIED_FROM,
            aptic_qualified_until=date.fromisoformat(until) if until else None,
            themes=list(m["themes"]),
            capacity=m["capacity"],
        )
        session.add(structure)
        session.flush()
        assert structure.id is not None
        for served in [m["epci"], *m["serves"]]:
            served_id = epci_by_key[served].id
            assert served_id is not None
            session.add(
                MediationStructureEpci(mediation_structure_id=structure.id, epci_id=served_id)
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
