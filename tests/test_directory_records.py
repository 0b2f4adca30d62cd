"""The structures directory's records (records/directory.py) on SQLite and PostgreSQL: import
of the sample files in the national *lieux de médiation numérique* schema (dry run, import,
idempotent re-import, bad rows reported by line with nothing written), export round trip,
qualification history and deactivation effects on the orientation suggestions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from domain.directory import parse_file, to_csv, to_json
from records import directory, queries
from records.db import SessionFactory, begin_write
from records.models import (
    AdminAudit,
    Epci,
    MediationQualification,
    MediationStructure,
    MediationStructureEpci,
)
from records.seed import seed_default_programme
from records.structures import set_aptic_qualification
from tests.fixtures.database import count

DATA = Path(__file__).parent / "data"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CODE = 12


@pytest.fixture
def seeded(sessions: SessionFactory) -> SessionFactory:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    return sessions


def run_import(
    sessions: SessionFactory, content: bytes, fmt: str, *, dry_run: bool = False
) -> directory.ImportPlan:
    with sessions() as s:
        begin_write(s)
        plan = directory.import_file(s, CODE, content, fmt, dry_run=dry_run, at=AT, account_id=None)
        s.commit()
    return plan


def sample(fmt: str) -> bytes:
    return (DATA / f"lieux_mediation_numerique.{fmt}").read_bytes()


def imported(sessions: SessionFactory) -> dict[str, MediationStructure]:
    with sessions() as s:
        rows = s.exec(
            select(MediationStructure).where(col(MediationStructure.external_id).like("lmn-%"))
        ).all()
        return {r.external_id or "": r for r in rows}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_dry_run_then_import_then_idempotent_reimport(seeded: SessionFactory, fmt: str) -> None:
    before = count(seeded, MediationStructure)
    dry = run_import(seeded, sample(fmt), fmt, dry_run=True)
    assert dry.errors == []
    assert dry.summary()["created"] == ["lmn-12-0001", "lmn-12-0002", "lmn-12-0003"]
    assert count(seeded, MediationStructure) == before  # a dry run writes nothing
    assert count(seeded, AdminAudit) == 0

    done = run_import(seeded, sample(fmt), fmt)
    assert len(done.created) == 3 and done.errors == []
    assert count(seeded, MediationStructure) == before + 3
    places = imported(seeded)
    rodez = places["lmn-12-0001"]
    assert rodez.siret == "21120202500013"
    assert rodez.themes == ["ADMIN_PROCEDURES", "SMARTPHONE"]
    assert rodez.opening_hours == "Mo-Fr 09:00-12:00;We 14:00-18:00"
    assert rodez.aptic_qualified_from == date(2025, 1, 1)
    assert rodez.aptic_qualified_until is None
    millau = places["lmn-12-0002"]
    assert millau.email == "atelier@millau.example"
    assert millau.themes == ["COMPUTER_BASICS", "HEALTH"]  # other thematics ignored
    assert millau.aptic_qualified_until == date(2027, 5, 31)
    with seeded() as s:
        epci = s.get(Epci, millau.epci_id)
        assert epci is not None and epci.siren == "212000012"
        assert s.get(MediationStructureEpci, (millau.id, millau.epci_id)) is not None
        history = directory.qualification_history(s, millau.id or 0)
        assert [(h.qualified_from, h.source) for h in history] == [(date(2025, 6, 1), "import")]
        entry = s.exec(select(AdminAudit)).one()
        assert entry.action == "STRUCTURES_IMPORTED" and entry.details["created"] == 3

    again = run_import(seeded, sample(fmt), fmt)
    assert again.changes == 0 and len(again.unchanged) == 3
    assert count(seeded, MediationStructure) == before + 3
    assert (
        count(seeded, MediationQualification, col(MediationQualification.source) == "import") == 3
    )
    assert count(seeded, AdminAudit) == 1  # a re-import changing nothing logs nothing


def test_update_lists_changed_fields(seeded: SessionFactory) -> None:
    run_import(seeded, sample("csv"), "csv")
    text = sample("csv").decode()
    text = text.replace("Mo-Fr 09:00-12:00;We 14:00-18:00,", "Mo-Fr 09:00-18:00,")
    text = text.replace(",40,2025-01-01,,oui", ",45,2025-01-01,2026-12-31,oui")
    dry = run_import(seeded, text.encode(), "csv", dry_run=True)
    assert dry.summary()["updated"] == {"lmn-12-0001": ["aptic_fin", "capacite", "horaires"]}
    assert imported(seeded)["lmn-12-0001"].capacity == 40  # dry run: unchanged
    run_import(seeded, text.encode(), "csv")
    rodez = imported(seeded)["lmn-12-0001"]
    assert (rodez.capacity, rodez.aptic_qualified_until) == (45, date(2026, 12, 31))
    with seeded() as s:
        history = directory.qualification_history(s, rodez.id or 0)
        assert [h.qualified_until for h in history] == [None, date(2026, 12, 31)]


def test_bad_rows_reported_by_line_and_nothing_written(seeded: SessionFactory) -> None:
    lines = sample("csv").decode().splitlines()
    lines[1] = lines[1].replace("12000", "120")  # line 2: postcode
    lines[3] = lines[3].replace("200069383", "999999999")  # line 4: unknown EPCI
    lines.append("lmn-12-0009,123,,x,12000,,Rodez,pas-un-courriel,,,,,241200187,beaucoup,,,")
    lines.append(lines[2])  # line 6: same id as line 3
    lines.append(lines[2].replace("lmn-12-0002", "lmn-12-0010").replace(",25,2025-06-01", ",30,"))
    before = count(seeded, MediationStructure)
    plan = run_import(seeded, "\n".join(lines).encode(), "csv")
    messages = [str(e) for e in plan.errors]
    assert messages == [
        "Ligne 2, champ « code_postal » : « 120 » n'est pas un code postal (5 chiffres).",
        "Ligne 4, champ « epci_siren » : aucun EPCI du programme n'a le SIREN « 999999999 ».",
        "Ligne 5, champ « capacite » : « beaucoup » n'est pas un nombre entre 0 et 10 000.",
        "Ligne 5, champ « courriels » : « pas-un-courriel » n'est pas une adresse électronique.",
        "Ligne 5, champ « nom » : valeur obligatoire manquante.",
        "Ligne 5, champ « pivot » : « 123 » n'est pas un SIRET (14 chiffres).",
        "Ligne 6, champ « id » : identifiant « lmn-12-0002 » déjà présent ligne 3.",
        "Ligne 7, champ « aptic_debut » : une fin de qualification demande un début.",
    ]
    assert count(seeded, MediationStructure) == before  # line 3 is fine, yet not imported
    assert count(seeded, AdminAudit) == 0


def test_json_errors_name_the_element(seeded: SessionFactory) -> None:
    parsed = parse_file(b'[{"id": "a", "nom": "A"}, 3]', "json")
    assert [str(e) for e in parsed.errors][-1] == (
        "Élément 2, champ « — » : un lieu doit être un objet."
    )
    assert str(parse_file(b"{", "json").errors[0]).startswith("Ligne 1, champ « fichier »")
    plan = run_import(seeded, b"id,adresse\nx,y\n", "csv")
    assert [str(e) for e in plan.errors] == [
        "Ligne 1, champ « nom, commune » : colonne absente de l'en-tête du fichier."
    ]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_round_trip(seeded: SessionFactory, fmt: str) -> None:
    """The export of the whole directory (seeded structures included) re-imports as no
    change, in both formats."""
    run_import(seeded, sample("csv"), "csv")
    with seeded() as s:
        rows = directory.export_places(s, CODE)
    assert len(rows) == count(seeded, MediationStructure)
    content = (to_csv(rows) if fmt == "csv" else to_json(rows)).encode()
    plan = run_import(seeded, content, fmt)
    assert plan.errors == [] and plan.changes == 0, plan.summary()
    assert len(plan.unchanged) == len(rows)
    millau = next(r for r in rows if r["id"] == "lmn-12-0002")
    assert millau["thematiques"] == [
        "numerique--prendre-en-main-un-ordinateur",
        "numerique--accompagner-les-demarches-de-sante",
    ]


def test_deactivated_structure_not_suggested_but_kept(seeded: SessionFactory) -> None:
    with seeded() as s:
        first = s.exec(select(MediationStructure).order_by(col(MediationStructure.id))).first()
        assert first is not None and first.id is not None
        epci_id, structure_id = first.epci_id, first.id

    def suggested() -> set[int]:
        with seeded() as s:
            found = queries.suggest_mediation_structures(
                s, programme_code=CODE, epci_id=epci_id, needs=[], on=date(2026, 12, 1)
            )
            return {x.structure.id for x in found if x.structure.id is not None}

    assert structure_id in suggested()
    text = f"id,nom,adresse,code_postal,commune,actif\npassnum-{structure_id},X,1 rue,12000,Rodez,non\n"
    run_import(seeded, text.encode(), "csv")
    assert structure_id not in suggested()
    with seeded() as s:
        kept = s.get(MediationStructure, structure_id)
        assert kept is not None and not kept.active and kept.name == "X"
        assert kept.external_id == f"passnum-{structure_id}"


def test_qualification_history_keeps_every_period(seeded: SessionFactory) -> None:
    with seeded() as s:
        begin_write(s)
        row = s.exec(select(MediationStructure).order_by(col(MediationStructure.id))).first()
        assert row is not None and row.id is not None
        set_aptic_qualification(
            s, row, qualified_from=date(2024, 1, 1), qualified_until=None, account_id=7, at=AT
        )
        set_aptic_qualification(
            s,
            row,
            qualified_from=date(2024, 1, 1),
            qualified_until=date(2026, 6, 30),
            account_id=8,
            at=AT,
        )
        s.commit()
        history = directory.qualification_history(s, row.id)
        assert [(h.qualified_until, h.account_id) for h in history] == [
            (None, 7),
            (date(2026, 6, 30), 8),
        ]
        assert row.aptic_qualified_until == date(2026, 6, 30)


def test_command_line_import_and_export(
    seeded_sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`passnum structures import FILE [--dry-run]` and `passnum structures export`."""
    import cli

    monkeypatch.setenv("PASSNUM_DATABASE_URL", seeded_sqlite_url)
    path = str(DATA / "lieux_mediation_numerique.csv")
    assert cli.run(["structures", "import", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 lieu(x) à créer, 0 à modifier, 0 inchangé(s)." in out
    assert "Essai à blanc : rien n'a été écrit." in out
    assert cli.run(["structures", "import", path]) == 0
    assert "3 lieu(x) créé(s)" in capsys.readouterr().out
    assert cli.run(["structures", "import", path]) == 0
    assert "0 lieu(x) créé(s), 0 modifié(s), 3 inchangé(s)." in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("id,nom,commune,code_postal\nx,,Rodez,12\n", encoding="utf-8")
    assert cli.run(["structures", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "Ligne 2, champ « nom » : valeur obligatoire manquante." in err
    assert cli.run(["structures", "export", "--format", "json"]) == 0
    exported = capsys.readouterr().out
    assert exported.startswith("[") and "lmn-12-0003" in exported


def test_command_line_works_in_the_programme_it_is_given(
    seeded_sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--programme CODE`: the import lands in that programme only, the export reads it."""
    import cli
    from records.db import make_engine, session_factory
    from records.seed import load_programme_file, seed_programme
    from tests.fixtures.programmes import OTHER, herault

    engine = make_engine(seeded_sqlite_url)
    with session_factory(engine)() as s:
        seed_programme(s, herault())
        s.commit()
    engine.dispose()
    monkeypatch.setenv("PASSNUM_DATABASE_URL", seeded_sqlite_url)
    path = str(DATA / "lieux_mediation_numerique.csv")
    # The Aveyron file names Aveyron's EPCI: refused in Hérault, nothing written.
    assert cli.run(["structures", "import", path, "--programme", str(OTHER)]) == 1
    assert "aucun EPCI du programme n'a le SIREN « 241200187 »" in capsys.readouterr().err
    text = (DATA / "lieux_mediation_numerique.csv").read_text(encoding="utf-8")
    for aveyron, hérault in zip(
        (e.siren for e in load_programme_file().epci),
        (e.siren for e in herault().epci),
        strict=True,
    ):
        text = text.replace(f",{aveyron},", f",{hérault},")
    path = str(tmp_path / "herault.csv")
    Path(path).write_text(text, encoding="utf-8")
    assert cli.run(["structures", "import", path, "--programme", str(OTHER)]) == 0
    assert "3 lieu(x) créé(s)" in capsys.readouterr().out
    assert cli.run(["structures", "export", "--programme", str(OTHER)]) == 0
    assert "lmn-12-0003" in capsys.readouterr().out
    assert cli.run(["structures", "export"]) == 0
    assert "lmn-12-0003" not in capsys.readouterr().out  # the default programme has none
