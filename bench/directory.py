"""Benchmark: importing a directory file of `--places` mediation places (national *lieux de
médiation numérique* schema, CSV or JSON) into a fresh, seeded records database.

    python -m bench.directory [--places 5000] [--format csv] [--postgres URL]

Writes the file (random but valid rows spread over the seed's EPCI), then times and measures
(the process's peak resident size; with --trace, peak Python allocations by tracemalloc,
which slows the runs) four runs through
`records.directory.import_file`, each its own transaction as the command line does: a dry
run, the import (all created), the same file again (nothing changes), and a file with one
field changed on every tenth place. Prints one line per run.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from domain.directory import THEME_THEMATICS, to_csv, to_json
from records import directory
from records.db import begin_write, make_engine, migrate, session_factory
from records.models import Epci
from records.seed import seed_default_programme

CODE = 12


def places(count: int, sirens: list[str], rng: random.Random) -> list[dict[str, Any]]:
    codes = list(THEME_THEMATICS.values())
    return [
        {
            "id": f"lmn-bench-{n:06d}",
            "pivot": f"{rng.randrange(10**14):014d}",
            "nom": f"Lieu de médiation numérique n° {n}",
            "adresse": f"{rng.randrange(1, 200)} rue de la République",
            "code_postal": f"12{rng.randrange(1000):03d}",
            "code_insee": f"12{rng.randrange(1, 300):03d}",
            "commune": f"Commune {n % 285}",
            "courriels": [f"lieu{n}@exemple.fr"],
            "telephone": f"05 65 {n % 100:02d} {n % 97:02d} {n % 89:02d}",
            "horaires": "Mo-Fr 09:00-12:00,14:00-17:30",
            "thematiques": rng.sample(codes, rng.randrange(1, 5)),
            "date_maj": "2026-11-30",
            "epci_siren": rng.choice(sirens),
            "capacite": rng.randrange(5, 80),
            "aptic_debut": "2025-01-01",
            "aptic_fin": "",
            "actif": "oui",
        }
        for n in range(count)
    ]


TRACE = False  # --trace: peak Python allocations too (tracemalloc slows allocation ~2-3x)


def timed(url: str, label: str, content: bytes, fmt: str, dry_run: bool) -> None:
    engine = make_engine(url)
    if TRACE:
        tracemalloc.start()
    started = time.perf_counter()
    with session_factory(engine)() as session:
        if not dry_run:
            begin_write(session)
        plan = directory.import_file(
            session, CODE, content, fmt, dry_run=dry_run, at=datetime.now(UTC), account_id=None
        )
        session.commit()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if TRACE else 0
    tracemalloc.stop()
    engine.dispose()
    assert not plan.errors, plan.errors[:3]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<28} {elapsed:6.2f} s  "
        + (f"peak allocations {peak / 2**20:6.1f} MiB  " if TRACE else "")
        + f"process peak RSS {rss:6.0f} MiB  created {len(plan.created)}, "
        f"updated {len(plan.updated)}, unchanged {len(plan.unchanged)}"
    )


def run(url: str, count: int, fmt: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        seed_default_programme(session)
        session.commit()
        sirens = list(session.exec(select(Epci.siren)).all())
    engine.dispose()
    rows = places(count, sirens, random.Random(12))
    content = (to_csv(rows) if fmt == "csv" else to_json(rows)).encode()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{count} places, {fmt.upper()} file of {len(content) / 2**20:.1f} MiB "
        f"(process peak RSS before the imports: {rss:.0f} MiB)"
    )
    timed(url, "dry run (all new)", content, fmt, True)
    timed(url, "import (all created)", content, fmt, False)
    timed(url, "re-import (no change)", content, fmt, False)
    for row in rows[::10]:
        row["capacite"] += 1
    changed = (to_csv(rows) if fmt == "csv" else to_json(rows)).encode()
    timed(url, "import (1 in 10 changed)", changed, fmt, False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--places", type=int, default=5000)
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL")
    parser.add_argument("--trace", action="store_true", help="measure allocations (slower)")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace
    if args.postgres:
        run(args.postgres, args.places, args.format)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.places, args.format)


if __name__ == "__main__":
    main()
