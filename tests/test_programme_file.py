"""Programme files (records/programme_file.py, records/programmes.py, `passnum seed --file`):
a valid file creates the programme and everything it holds, with its policy row and funding
rule; each kind of bad input is refused in French with its line and field, writing nothing;
a serial prefix already used is refused; the default Aveyron file stays valid."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

import cli
from domain.money import format_euros
from records import programmes
from records.db import SessionFactory, begin_write
from records.models import (
    AdminAudit,
    BudgetLine,
    Epci,
    Funder,
    MediationStructure,
    MediationStructureEpci,
    Programme,
    ProgrammePolicy,
    ReceptionStructure,
)
from records.programme_file import ProgrammeFileError, parse
from records.seed import DEFAULT_PROGRAMME_FILE, seed_default_programme
from tests.fixtures.database import count

LOT = Path(__file__).parent / "data" / "programme_lot.json"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TABLES = (Programme, Epci, Funder, BudgetLine, ReceptionStructure, MediationStructure, AdminAudit)


def lot(*changes: tuple[str, str]) -> str:
    content = LOT.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in content, old
        content = content.replace(old, new, 1)
    return content


def large_lot(code: int, structures: int) -> str:
    """The Lot file under another code with many more reception structures (> 64 KiB)."""
    many = ",\n".join(
        f'    {{"epci": "cahors", "kind": "Mairie", "name": "Mairie n° {i}", "commune": "Cahors"}}'
        for i in range(structures)
    )
    return lot(
        ('"code": 46', f'"code": {code}'),
        ('"reception_structures": [\n', f'"reception_structures": [\n{many},\n'),
    )


def errors_of(content: str) -> list[str]:
    with pytest.raises(ProgrammeFileError) as refused:
        parse(content)
    return [str(e) for e in refused.value.errors]


# ---- the file alone ----


def test_default_and_sample_files_are_valid() -> None:
    aveyron = parse(DEFAULT_PROGRAMME_FILE.read_bytes())
    assert (aveyron.programme.code, len(aveyron.epci), len(aveyron.funders)) == (12, 17, 19)
    assert aveyron.budget_total_cents == aveyron.programme.budget_total_cents == 106_492_000
    spec = parse(LOT.read_bytes())
    assert spec.programme.cheque_value_cents == 1000  # defaults
    assert [f.amount_cents for f in spec.funders] == [10_000_000, 2_000_000, 8_000_000]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            [('"siren": "200067361"', '"siren": "20006736"')],
            "ligne 16, epci[1].siren : le SIREN doit compter 9 chiffres",
        ),
        (
            [('"ends_on": "2028-12-31"', '"ends_on": "2026-12-31"')],
            "ligne 10, programme.ends_on : la fin du programme (31/12/2026) précède son "
            "début (01/01/2027)",
        ),
        (
            [('"budget_total_cents": 20000000', '"budget_total_cents": 21000000')],
            "ligne 12, programme.budget_total_cents : les lignes budgétaires des financeurs "
            f"totalisent {format_euros(20_000_000)}, pas {format_euros(21_000_000)}",
        ),
        (
            [('{"epci": "figeac", "kind"', '{"epci": "gourdon", "kind"')],
            "ligne 28, reception_structures[1].epci : EPCI inconnu : « gourdon »",
        ),
        (
            [('"serves": ["figeac"]', '"serves": ["figeac", "souillac"]')],
            "ligne 31, mediation_structures[0].serves[1] : EPCI inconnu : « souillac »",
        ),
        (
            [('"siren": "200067361"', '"siren": "200023737"')],
            "ligne 16, epci[1].siren : le SIREN 200023737 figure deux fois",
        ),
        (
            [('"name": "Espace numérique de Figeac"', '"name": "Médiathèque de Cahors"')],
            "ligne 32, mediation_structures[1].name : la structure « Médiathèque de Cahors » "
            "figure deux fois",
        ),
        (
            [('"kind": "ETAT", "name": "État (ANCT)"', '"kind": "EPCI", "name": "État (ANCT)"')],
            "ligne 24, funders[2] : un financeur de type EPCI nomme son EPCI (champ « epci »)",
        ),
        (
            [('"target_booklets": 1500', '"target_booklet": 1500')],
            "ligne 11, programme.target_booklet : champ inconnu (les champs de commentaire "
            "commencent par « _ »)",
        ),
        (
            [('    "issuer_name": "Département du Lot",\n', "")],
            "ligne 4, programme.issuer_name : champ obligatoire manquant",
        ),
        (
            [('"code": 46', '"code": 1000')],
            "ligne 5, programme.code : doit valoir au plus 999",
        ),
        (
            [('"code": 46', '"code": "46"')],
            "ligne 5, programme.code : un nombre entier est attendu",
        ),
        (
            [('"themes": ["ADMIN_PROCEDURES"]', '"themes": ["ADMIN"]')],
            "ligne 32, mediation_structures[1].themes[0] : valeur inconnue ; valeurs possibles : "
            "'ADMIN_PROCEDURES', 'EMAIL', 'SMARTPHONE', 'COMPUTER_BASICS', 'HEALTH', 'MONEY', "
            "'JOB_SEARCH', 'ONLINE_SAFETY', 'FAMILY_SCHOOL', 'SOCIAL_LINK'",
        ),
        (
            [('"starts_on": "2027-01-01"', '"starts_on": "01/01/2027"')],
            "ligne 9, programme.starts_on : une date AAAA-MM-JJ est attendue",
        ),
        (
            [('"ends_on": "2028-12-31"', '"ends_on": 1830297600')],
            "ligne 10, programme.ends_on : une date AAAA-MM-JJ est attendue",
        ),
        (
            [
                (
                    '"qualified_from": "2026-06-01", "external_id"',
                    '"qualified_from": "2026-06-01T00:00", "external_id"',
                )
            ],
            "ligne 31, mediation_structures[0].qualified_from : une date AAAA-MM-JJ est attendue",
        ),
        (
            [('"target_booklets": 1500,', '"target_booklets": 1500')],
            "ligne 12 : JSON illisible (colonne 5) : virgule attendue",
        ),
        (
            [('"name": "Grand Cahors", "siren"', '"name": "Grand Cahors", "name": "X", "siren"')],
            "ligne 15, name : la clé « name » figure deux fois dans le même objet",
        ),
    ],
)
def test_bad_input_refused_in_french_by_line(changes: list[tuple[str, str]], expected: str) -> None:
    assert expected in errors_of(lot(*changes))


def test_every_field_error_is_listed_in_file_order() -> None:
    found = errors_of(
        lot(
            ('"siren": "200067361"', '"siren": "2000"'),
            ('"code": 46', '"code": 0'),
            ('"capacity": 15', '"capacity": -1'),
        )
    )
    assert [e.split(",")[0] for e in found] == ["ligne 5", "ligne 16", "ligne 32"]


def test_field_and_cross_field_errors_come_in_one_pass() -> None:
    found = errors_of(
        lot(
            ('"siren": "200067361"', '"siren": "2000"'),  # figeac's item is wrong...
            ('"ends_on": "2028-12-31"', '"ends_on": "2026-12-31"'),
            ('{"epci": "cahors", "kind"', '{"epci": "gourdon", "kind"'),
            ('"amount_cents": 8000000', '"amount_cents": 8000000.5'),
        )
    )
    assert found == [
        "ligne 10, programme.ends_on : la fin du programme (31/12/2026) précède son début "
        "(01/01/2027)",
        "ligne 16, epci[1].siren : le SIREN doit compter 9 chiffres",
        "ligne 24, funders[2].budget_lines[0].amount_cents : un nombre entier est attendu",
        "ligne 27, reception_structures[0].epci : EPCI inconnu : « gourdon »",
    ]  # ...but structures naming figeac are not « unknown »; no budget sum with a wrong line


def test_not_utf8_or_empty() -> None:
    assert errors_of("") == ["ligne 1 : le fichier est vide"]
    with pytest.raises(ProgrammeFileError) as refused:
        parse(b'{\n"programme": "\xe9"}')
    assert str(refused.value.errors[0]) == "ligne 2 : le fichier doit être encodé en UTF-8"


# ---- the database (SQLite and PostgreSQL) ----


def create(sessions: SessionFactory, content: str | bytes) -> int:
    with sessions() as s:
        begin_write(s)
        programme = programmes.create_programme(s, parse(content), at=AT, account_id=None)
        s.commit()
        assert programme.id is not None
        return programme.id


def test_valid_file_creates_everything(sessions: SessionFactory) -> None:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    pid = create(sessions, LOT.read_bytes())
    with sessions() as s:
        p = s.get(Programme, pid)
        assert p is not None
        assert (p.code, p.name, p.territory, p.issuer_name) == (
            46,
            "Pass numérique Lot",
            "Département du Lot",
            "Département du Lot",
        )
        assert (str(p.starts_on), str(p.ends_on), p.target_booklets) == (
            "2027-01-01",
            "2028-12-31",
            1500,
        )
        assert p.budget_total_cents == 20_000_000 and p.cheques_per_booklet == 10
        epci = {e.siren: e for e in s.exec(select(Epci).where(Epci.programme_id == pid))}
        assert {e.name for e in epci.values()} == {"Grand Cahors", "Grand-Figeac"}
        funders = s.exec(select(Funder).where(Funder.programme_id == pid).order_by(col(Funder.id)))
        got = [(f.kind, f.name, f.share_bp, f.epci_id) for f in funders]
        assert got == [
            ("DEPARTEMENT", "Département du Lot", 5000, None),
            ("EPCI", "Grand Cahors", 1000, epci["200023737"].id),
            ("ETAT", "État (ANCT)", 4000, None),
        ]
        lines = s.exec(select(BudgetLine).where(BudgetLine.programme_id == pid))
        assert sorted((b.label, b.amount_cents) for b in lines) == [
            ("Appel à projets", 8_000_000),
            ("Convention 2027", 5_000_000),
            ("Convention 2028", 5_000_000),
            ("Participation", 2_000_000),
        ]
        reception = s.exec(select(ReceptionStructure).where(ReceptionStructure.programme_id == pid))
        by_name = {r.name: r for r in reception}
        assert by_name["CCAS de Cahors"].email == "ccas@cahors.example"
        figeac = by_name["France Services de Figeac"]
        assert (figeac.epci_id, figeac.insee_code) == (epci["200067361"].id, "46102")
        mediation = {
            m.name: m
            for m in s.exec(
                select(MediationStructure).where(MediationStructure.programme_id == pid)
            )
        }
        cahors = mediation["Médiathèque de Cahors"]
        assert cahors.themes == ["EMAIL", "SMARTPHONE"] and cahors.external_id == "lmn-46-0001"
        served = s.exec(
            select(MediationStructureEpci.epci_id).where(
                MediationStructureEpci.mediation_structure_id == cahors.id
            )
        ).all()
        assert set(served) == {epci["200023737"].id, epci["200067361"].id}
        assert str(mediation["Espace numérique de Figeac"].aptic_qualified_until) == "2028-12-31"
        assert s.get(ProgrammePolicy, pid) is not None  # today's default rules
        rule = s.execute(
            text(
                "SELECT funder_id, share_bp, epci_id FROM funding_rule_line"
                " WHERE programme_id = :p ORDER BY funder_id"
            ),
            {"p": pid},
        ).all()
        assert [(share, epci_id) for _, share, epci_id in rule] == [
            (5000, None),
            (1000, epci["200023737"].id),
            (4000, None),
        ]
        entry = s.exec(select(AdminAudit).where(AdminAudit.target == f"programme:{pid}")).one()
        assert entry.action == "PROGRAMME_CREATED" and entry.programme_code == 46
    assert [p.code for p in _listed(sessions)] == [12, 46]


def _listed(sessions: SessionFactory) -> list[programmes.ProgrammeSummary]:
    with sessions() as s:
        return programmes.list_programmes(s)


def test_code_taken_refused_and_nothing_written(sessions: SessionFactory) -> None:
    with sessions() as s:
        seed_default_programme(s)
        s.commit()
    before = {m.__name__: count(sessions, m) for m in TABLES}
    with sessions() as s:
        begin_write(s)
        with pytest.raises(programmes.ProgrammeCodeTaken) as taken:
            programmes.create_programme(
                s, parse(lot(('"code": 46', '"code": 12'))), at=AT, account_id=None
            )
        s.rollback()
    assert taken.value.sentence == (
        "Le préfixe de numéro de chèque 012 est déjà celui du programme « Pass numérique "
        "Aveyron » : choisissez-en un autre (programme.code)."
    )
    assert {m.__name__: count(sessions, m) for m in TABLES} == before
    create(sessions, LOT.read_bytes())
    with sessions() as s, pytest.raises(programmes.ProgrammeCodeTaken):
        programmes.create_programme(s, parse(LOT.read_bytes()), at=AT, account_id=None)


def test_the_database_refuses_a_second_code_all_or_nothing(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the check (a concurrent creation of the same code), the unique code still
    refuses, and nothing of the file stays."""
    create(sessions, LOT.read_bytes())
    before = {m.__name__: count(sessions, m) for m in TABLES}
    with sessions() as s:
        begin_write(s)
        spec = parse(lot(('"name": "Pass numérique Lot"', '"name": "Lot bis"')))
        monkeypatch.setattr(programmes, "check_code_free", lambda *_: None)
        with pytest.raises(programmes.ProgrammeCodeTaken):
            programmes.create_programme(s, spec, at=AT, account_id=None)
        s.rollback()
    assert {m.__name__: count(sessions, m) for m in TABLES} == before


# ---- the command line ----


def test_command_line_dry_run_real_run_and_errors(
    sqlite_url: str,
    sqlite_sessions: SessionFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PASSNUM_DATABASE_URL", sqlite_url)
    assert cli.run(["seed"]) == 0  # no programme yet: the default one
    capsys.readouterr()
    assert cli.run(["seed", "--file", str(LOT), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Essai à blanc, rien n'a été écrit. Serait créé :\n")
    assert "préfixe de numéro de chèque 046, période 01/01/2027 – 31/12/2028" in out
    assert "2 structure(s) d'accueil, 2 structure(s) de médiation." in out
    assert count(sqlite_sessions, Programme) == 1

    bad = tmp_path / "lot.json"
    bad.write_text(
        lot(
            ('"siren": "200067361"', '"siren": "2000673610"'),
            ('"capacity": 15', '"capacity": "15"'),
        ),
        encoding="utf-8",
    )
    assert cli.run(["seed", "--file", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "passnum : lot.json refusé (2 erreur(s)), rien n'a été créé :",
        "ligne 16, epci[1].siren : le SIREN doit compter 9 chiffres",
        "ligne 32, mediation_structures[1].capacity : un nombre entier est attendu",
    ]
    assert count(sqlite_sessions, Programme) == 1

    assert cli.run(["seed", "--file", str(LOT)]) == 0
    assert capsys.readouterr().out.startswith("Créé :\n")
    assert [p.code for p in _listed(sqlite_sessions)] == [12, 46]
    assert cli.run(["seed", "--file", str(LOT)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "passnum : programme_lot.json refusé, rien n'a été créé :",
        "ligne 5, programme.code : le préfixe de numéro de chèque 046 est déjà celui du "
        "programme « Pass numérique Lot » : choisissez-en un autre",
    ]
    assert count(sqlite_sessions, Programme) == 2
    assert cli.run(["seed"]) == 0  # a programme exists: nothing to do
    assert "rien à faire" in capsys.readouterr().out
