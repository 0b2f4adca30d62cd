"""`passnum simulate`: its arguments, its files, its output.

    passnum simulate [--programme records/seed/aveyron.json] [--assumptions f.json]
                     [--trials 1000] [--seed 1] [--out dossier/] [common assumptions...]

Prints the French summary, writes the PNG charts and `simulation.html` into --out.
`--print-assumptions` prints the assumptions in force as a JSON file to start from, each
key with its French meaning.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from records.programme_file import ProgrammeFileError, parse
from simulation import Assumptions, AssumptionsError, programme_from_seed, simulate
from simulation.model import DESCRIPTIONS

# Flags for the assumptions a coordinator changes most: flag -> Assumptions field.
COMMON_FLAGS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--campaign-start": ("campaign_start", date.fromisoformat, "début de la campagne (AAAA-MM-JJ)"),
    "--campaign-months": ("campaign_months", int, "durée de la campagne, en mois"),
    "--referrals": ("referrals_total", int, "personnes orientées sur la campagne"),
    "--assessment-rate": ("assessment_rate", float, "part des personnes orientées diagnostiquées"),
    "--booklet-rate": (
        "booklet_rate",
        float,
        "part des personnes diagnostiquées recevant un carnet",
    ),
    "--orientation-rate": ("orientation_rate", float, "part des carnets suivis d'une orientation"),
    "--acceptance-rate": ("acceptance_rate", float, "part des orientations acceptées"),
    "--dropout": ("dropout_per_session", float, "probabilité d'abandon après chaque séance"),
}


def add_parser(commands: Any) -> None:
    """The `simulate` sub-command on cli.py's parser."""
    from records.seed import DEFAULT_PROGRAMME_FILE

    sim = commands.add_parser(
        "simulate",
        help="simuler un programme : carnets, chèques dépensés et expirés, financeurs",
    )
    sim.add_argument(
        "--programme",
        type=Path,
        default=DEFAULT_PROGRAMME_FILE,
        help="fichier du programme (format : docs/programme-file.md)",
    )
    sim.add_argument("--assumptions", type=Path, help="fichier JSON d'hypothèses")
    sim.add_argument("--trials", type=int, default=1000, help="nombre de tirages (1000)")
    sim.add_argument("--seed", type=int, default=1, help="graine des tirages (1)")
    sim.add_argument("--out", type=Path, help="dossier où écrire les graphiques et la page HTML")
    sim.add_argument(
        "--print-assumptions",
        action="store_true",
        help="afficher les hypothèses en vigueur (JSON commenté) et s'arrêter",
    )
    for flag, (_, kind, text) in COMMON_FLAGS.items():
        sim.add_argument(flag, type=kind, help=text)


def assumptions_file(a: Assumptions) -> dict[str, Any]:
    """The assumptions as a JSON file to edit: values, and each key's meaning under '_aide'."""
    return {"_aide": DESCRIPTIONS, **a.to_json()}


def run(args: argparse.Namespace) -> int:
    from simulation.report import text_summary, write_report

    try:
        programme = programme_from_seed(parse(args.programme.read_bytes()))
        assumptions = Assumptions()
        if args.assumptions is not None:
            assumptions = Assumptions.from_json(
                json.loads(args.assumptions.read_text(encoding="utf-8"))
            )
        assumptions = assumptions.with_changes(
            **{
                field: getattr(args, flag[2:].replace("-", "_"))
                for flag, (field, _, _) in COMMON_FLAGS.items()
            }
        )
        if args.trials < 1:
            raise AssumptionsError("Il faut au moins un tirage (--trials).")
    except ProgrammeFileError as err:
        print(f"passnum simulate : {args.programme.name} refusé :", file=sys.stderr)
        print("\n".join(str(e) for e in err.errors), file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError, AssumptionsError) as err:
        print(f"passnum simulate : {err}", file=sys.stderr)
        return 2
    if args.print_assumptions:
        print(json.dumps(assumptions_file(assumptions), ensure_ascii=False, indent=2))
        return 0
    started = time.perf_counter()
    result = simulate(programme, assumptions, trials=args.trials, seed=args.seed)
    elapsed = time.perf_counter() - started
    print(text_summary(result))
    print(f"\nCalcul : {elapsed:.2f} s pour {args.trials} tirages.".replace(".", ",", 1))
    if args.out is not None:
        for path in write_report(result, args.out):
            print(f"Écrit : {path}")
    return 0
