"""`passnum` command line: the embedded stack and its parts.

    passnum [up] [--external-temporal]   everything on this machine (default)
    passnum worker                       a Temporal worker (production: run N of them)
    passnum api                          the HTTP API (production: run N replicas)
    passnum migrate                      apply database migrations
    passnum seed [--file F] [--dry-run]  create the default programme if the database has
                                         none, or the programme of file F (docs/programme-file.md)
    passnum structures import FICHIER [--dry-run] [--format csv|json]
                                         import the mediation places of a file in the
                                         national lieux de médiation numérique schema
    passnum structures export [--format csv|json]
                                         the directory on standard output, same schema
    passnum create-admin --email E --name N
                                         create an administrator (password asked, or read
                                         from standard input when it is not a terminal)
    passnum simulate [--programme F] [--assumptions F] [--trials 1000] [--seed 1] [--out D]
                                         simulate a programme under take-up assumptions:
                                         booklets, cheques spent and expired per month,
                                         funders' spending and returns (simulation/command.py)

Settings come from PASSNUM_* environment variables (see README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from pydantic import ValidationError

from config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passnum", description="Parcours Pass numérique (chèques APTIC)."
    )
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser(
        "up", help="tout lancer sur cette machine : Temporal, base, worker, API (par défaut)"
    )
    up.add_argument(
        "--demo",
        nargs="?",
        type=int,
        const=240,
        default=0,
        metavar="N",
        help="mode dev : remplir le programme de N parcours simulés (240 par défaut) s'il "
        "n'en a aucun",
    )
    up.add_argument(
        "--external-temporal",
        action="store_true",
        help="ne pas démarrer de serveur Temporal : utiliser celui de PASSNUM_TEMPORAL_ADDRESS",
    )
    commands.add_parser("worker", help="lancer un worker Temporal")
    commands.add_parser("api", help="lancer l'API HTTP")
    commands.add_parser("migrate", help="appliquer les migrations de la base")
    seed = commands.add_parser(
        "seed",
        help="créer le programme par défaut si la base n'en a aucun, ou celui d'un fichier",
    )
    seed.add_argument(
        "--file", help="fichier de programme JSON à créer (format : docs/programme-file.md)"
    )
    seed.add_argument("--dry-run", action="store_true", help="lister sans rien écrire")
    admin = commands.add_parser(
        "create-admin", help="créer un compte administrateur (aucun mot de passe par défaut)"
    )
    admin.add_argument("--email", required=True, help="adresse e-mail de connexion")
    admin.add_argument("--name", required=True, help="nom complet")
    _programme_option(admin)
    structures = commands.add_parser(
        "structures", help="annuaire des lieux de médiation (schéma national)"
    )
    actions = structures.add_subparsers(dest="action", required=True)
    load = actions.add_parser("import", help="importer un fichier CSV ou JSON")
    load.add_argument("file", help="fichier à importer")
    load.add_argument("--dry-run", action="store_true", help="lister sans rien écrire")
    load.add_argument("--format", choices=["csv", "json"], help="par défaut : l'extension")
    _programme_option(load)
    dump = actions.add_parser("export", help="écrire l'annuaire sur la sortie standard")
    dump.add_argument("--format", choices=["csv", "json"], default="csv")
    _programme_option(dump)
    from simulation.command import add_parser as add_simulate

    add_simulate(commands)
    return parser


def _programme_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--programme",
        type=int,
        metavar="CODE",
        help="code du programme (préfixe des numéros de chèque) ; par défaut "
        "PASSNUM_PROGRAMME_CODE",
    )


def _programme_code(settings: Settings, args: argparse.Namespace) -> int:
    code: int = args.programme or settings.programme_code
    return code


def _structures(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from domain.directory import to_csv, to_json
    from records import directory
    from records.db import begin_write, make_engine, session_factory

    _migrate(settings, quiet=True)  # an export's standard output is the file
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine)() as session:
            if args.action == "export":
                rows = directory.export_places(session, _programme_code(settings, args))
                sys.stdout.write(to_csv(rows) if args.format == "csv" else to_json(rows))
                return 0
            path = Path(args.file)
            fmt = args.format or ("json" if path.suffix.lower() == ".json" else "csv")
            try:
                content = path.read_bytes()
            except OSError as err:
                print(f"passnum : fichier illisible ({err.strerror}).", file=sys.stderr)
                return 1
            begin_write(session)
            plan = directory.import_file(
                session,
                _programme_code(settings, args),
                content,
                fmt,
                dry_run=args.dry_run,
                at=datetime.now(UTC),
                account_id=None,
            )
            session.commit()
            out = sys.stderr if plan.errors else sys.stdout
            print("\n".join(directory.report_lines(plan, dry_run=args.dry_run)), file=out)
            return 1 if plan.errors else 0
    finally:
        engine.dispose()


def _up(settings: Settings, external_temporal: bool, demo_journeys: int = 0) -> int:
    from stack.devserver import StackError
    from stack.up import run_stack

    if demo_journeys and settings.environment != "dev":
        print(
            "passnum : --demo n'existe qu'en mode dev (PASSNUM_ENVIRONMENT=dev).", file=sys.stderr
        )
        return 1
    try:
        asyncio.run(
            run_stack(settings, external_temporal=external_temporal, demo_journeys=demo_journeys)
        )
    except StackError as exc:
        print(f"passnum : {exc}", file=sys.stderr)
        return 1
    return 0


def _api(settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    # The app connects to Temporal at startup (PASSNUM_TEMPORAL_ADDRESS).
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port)
    return 0


def _worker(settings: Settings) -> int:
    from worker import run_worker

    async def run_until_signal() -> None:
        # SIGINT/SIGTERM (Ctrl-C, container stop) cancel the worker, which then shuts down
        # gracefully instead of dying mid-task.
        task = asyncio.create_task(run_worker(settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_until_signal())
    return 0


def _migrate(settings: Settings, *, quiet: bool = False) -> int:
    from records.db import migrate

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.db_url, settings.code_vault)
    if not quiet:
        print("Base de données à jour.")
    return 0


def _seed(settings: Settings, file: str | None, dry_run: bool) -> int:
    if file is None and not dry_run:
        from stack.up import prepare_database

        seeded = prepare_database(settings)
        print(
            "Programme par défaut créé." if seeded else "Un programme existe déjà : rien à faire."
        )
        return 0
    return _seed_file(settings, file, dry_run)


def _seed_file(settings: Settings, file: str | None, dry_run: bool) -> int:
    """A programme file's programme (the default file without --file), all or nothing."""
    from datetime import UTC, datetime
    from pathlib import Path

    from sqlmodel import select

    from records import programmes
    from records.db import begin_write, make_engine, session_factory
    from records.models import Programme
    from records.programme_file import CODE_LOC, ProgrammeFileError, locate, parse
    from records.seed import DEFAULT_PROGRAMME_FILE

    path = Path(file) if file else DEFAULT_PROGRAMME_FILE
    try:
        spec = parse(path.read_bytes())
    except OSError as err:
        print(f"passnum : fichier illisible ({err.strerror}).", file=sys.stderr)
        return 1
    except ProgrammeFileError as err:
        print(
            f"passnum : {path.name} refusé ({len(err.errors)} erreur(s)), rien n'a été créé :",
            file=sys.stderr,
        )
        print("\n".join(str(e) for e in err.errors), file=sys.stderr)
        return 1
    _migrate(settings, quiet=True)
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine)() as session:
            begin_write(session)
            if file is None and session.exec(select(Programme.id).limit(1)).first():
                print("Un programme existe déjà : rien à faire.")
                return 0
            try:
                if dry_run:
                    programmes.check_code_free(session, spec)
                else:
                    programmes.create_programme(
                        session, spec, at=datetime.now(UTC), account_id=None
                    )
                    session.commit()
            except programmes.ProgrammeCodeTaken as err:
                print(f"passnum : {path.name} refusé, rien n'a été créé :", file=sys.stderr)
                print(locate(path.read_bytes(), CODE_LOC, err.message), file=sys.stderr)
                return 1
    finally:
        engine.dispose()
    head = "Essai à blanc, rien n'a été écrit. Serait créé :" if dry_run else "Créé :"
    print("\n".join([head, *programmes.plan_lines(spec)]))
    return 0


def _create_admin(settings: Settings, email: str, name: str, programme: int) -> int:
    """The first administrator of a production instance: there is no default password."""
    import getpass
    from datetime import UTC, datetime

    from domain.rights import AuditAction
    from domain.stages import Role
    from records import audit
    from records.accounts import AccountError, create_account
    from records.db import make_engine, session_factory
    from records.queries import get_programme

    if sys.stdin.isatty():
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Mot de passe (à nouveau) : ") != password:
            print("passnum : les deux mots de passe diffèrent.", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    _migrate(settings)
    engine = make_engine(settings.db_url)
    try:
        with session_factory(engine)() as session:
            now = datetime.now(UTC)
            if get_programme(session, programme) is None:
                raise AccountError(f"aucun programme n'a le code {programme}.")
            account = create_account(
                session,
                email=email,
                full_name=name,
                role=Role.ADMINISTRATOR,
                programme_code=programme,
                now=now,
                password=password,
            )
            audit.record(  # the command line: no administrator account acted
                session,
                at=now,
                programme_code=account.programme_code,
                account_id=None,
                action=AuditAction.ACCOUNT_CREATED,
                target=f"account:{account.id}",
                details={"email": account.email, "role": account.role, "with_password": True},
            )
            session.commit()
    except AccountError as err:
        print(f"passnum : {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Compte administrateur créé : {email.strip().lower()}")
    return 0


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "simulate":  # no settings, no database: files in, files out
        from simulation.command import run as simulate

        return simulate(args)
    try:
        settings = Settings()
    except ValidationError as err:  # the validators' messages are French: say them, no trace
        for problem in err.errors():
            print(f"passnum : {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 1
    match args.command:
        case None | "up":
            return _up(
                settings, getattr(args, "external_temporal", False), getattr(args, "demo", 0)
            )
        case "worker":
            return _worker(settings)
        case "api":
            return _api(settings)
        case "migrate":
            return _migrate(settings)
        case "seed":
            return _seed(settings, args.file, args.dry_run)
        case "create-admin":
            return _create_admin(settings, args.email, args.name, _programme_code(settings, args))
        case "structures":
            return _structures(settings, args)
    return 2


def main() -> None:
    """Console script. Exits without interpreter teardown once everything is stopped: the
    Temporal client's native threads can abort CPython's finalisation
    (temporalio/sdk-python#300, "PyGILState_Release ... finalizing")."""
    code = run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
