"""Benchmark: the duplicate checks' cost against a large programme.

    python -m bench.duplicates [--people 50000] [--lookups 500] [--postgres URL]

Fills a fresh records database (SQLite file; with --postgres, that empty database too)
with `--people` journeys and their people (random names among 300 first and 2,000 last
names, birth years, phones and e-mails, keys as the records keep them), then times
`records.duplicates.possible_duplicates` (one referral's check) and `other_booklets` (one
booklet's check). Prints milliseconds per check.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from domain import identity
from records import duplicates
from records.db import make_engine, migrate, session_factory
from records.models import Beneficiary, Journey

FIRST = [f"Prénom{i}" for i in range(300)]
LAST = [f"Nom-{i}" for i in range(2000)]


def run(url: str, people: int, lookups: int) -> None:
    migrate(url)
    engine = make_engine(url)
    rng = random.Random(12)
    now = datetime.now(UTC)
    journeys, persons = [], []
    for n in range(people):
        jid = str(uuid.uuid4())
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone, email = f"06{rng.randrange(10**8):08d}", f"p{n}@exemple.fr"
        journeys.append(
            {
                "id": jid,
                "workflow_id": f"journey-{jid}",
                "programme_code": 12,
                "epci_id": 1,
                "reception_structure_id": 1,
                "referrer_role": "SOCIAL_WORKER",
                "referrer_ref": "1",
                "stage": "REFERRED",
                "referred_at": now,
                "updated_at": now,
                "stalled": False,
                "cheques_total": 0,
                "cheques_redeemed": 0,
                "sessions_count": 0,
                "last_seq": 0,
            }
        )
        persons.append(
            {
                "journey_id": jid,
                "idempotency_key": jid,
                "first_name": first,
                "last_name": last,
                "birth_year": rng.randint(1935, 2000),
                "phone": phone,
                "email": email,
                "preferred_channel": "POST",
                "consent_given_at": now,
                "consent_text": "J'accepte.",
                "consent_recorded_by": "1",
                "created_at": now,
                "name_key": identity.name_key(first, last),
                "email_key": email,
                "phone_key": phone,
            }
        )
    with engine.begin() as conn:
        conn.execute(Journey.__table__.insert(), journeys)  # type: ignore[attr-defined]
        conn.execute(Beneficiary.__table__.insert(), persons)  # type: ignore[attr-defined]
    try:
        with session_factory(engine)() as session:
            started = time.perf_counter()
            for _ in range(lookups):
                duplicates.possible_duplicates(
                    session,
                    programme_code=12,
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    birth_year=rng.randint(1935, 2000),
                    email=f"p{rng.randrange(people)}@exemple.fr",
                    phone=f"06{rng.randrange(10**8):08d}",
                )
            per_referral = (time.perf_counter() - started) / lookups * 1000
            ids = list(
                session.execute(text("SELECT journey_id FROM beneficiary LIMIT :n"), {"n": lookups})
                .scalars()
                .all()
            )
            started = time.perf_counter()
            for jid in ids:
                duplicates.other_booklets(session, journey_id=jid, millesime=2026)
            per_booklet = (time.perf_counter() - started) / len(ids) * 1000
    finally:
        engine.dispose()
    backend = url.split(":", 1)[0]
    print(
        f"{backend}, {people} people: possible_duplicates {per_referral:.2f} ms per referral, "
        f"other_booklets {per_booklet:.2f} ms per booklet"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database to fill too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'duplicates.db'}", args.people, args.lookups)
    if args.postgres:
        run(args.postgres, args.people, args.lookups)
