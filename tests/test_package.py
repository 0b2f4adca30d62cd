"""A non-editable install ships everything passnum needs: the wheel, built from a copy of
this tree and installed into a fresh virtualenv outside it, runs the migrations, renders a
mail, serves a page and renders the simulator's page from its own files (never from this
checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git", ".venv*", ".data", "build", "*.egg-info", "__pycache__", ".*_cache", "artifacts"
)

# Run by the fresh virtualenv's Python, from a folder outside the repository.
CHECK = r"""
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path

import api, notifications, records
repo, work = Path(sys.argv[1]), Path(sys.argv[2])
for module in (api, notifications, records):
    here = Path(module.__file__).resolve()
    assert repo not in here.parents and "site-packages" in here.parts, here

from records.db import make_engine, migrate, session_factory
url = f"sqlite:///{work / 'records.db'}"
migrate(url)  # Alembic's scripts and ini, from the wheel

from notifications.context import JourneyFacts, MailContext, Person, Structure
from notifications.rendering import render_message
from domain.stages import Stage
ctx = MailContext(
    base_url="https://passnum.example.fr",
    journey=JourneyFacts(id="3f2a9c1e-0000-4000-8000-000000000000", stage=Stage.REFERRED,
                         programme_name="Pass numérique Aveyron"),
    person=Person("Marie", "Dupont", email="marie@example.org"),
    reception=Structure(1, "CCAS de Rodez", "Rodez"),
)
mail = render_message("referral_recorded_beneficiary", ctx)
assert "Marie Dupont" in mail.text and "<html" in mail.html.lower(), mail

import httpx
from api.app import create_app
from api.deps import AppState, Database
from config import Settings
settings = Settings(database_url=url)
app = create_app(settings)
app.state.passnum = AppState(settings, Database(session_factory(make_engine(url))), None)

async def page() -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://passnum.test") as http:
        r = await http.get("/connexion")
        assert r.status_code == 200, r.text
        css = await http.get("/static/passnum.css")
        assert css.status_code == 200 and len(css.text) > 100
        return r.text

html = asyncio.run(page())
assert "Connexion" in html and 'lang="fr"' in html

# The simulator's page template, from the wheel (`passnum simulate`).
import simulation
from simulation import Assumptions, programme_from_seed, simulate
from records.seed import load_programme_file
from simulation.report import html_page
assert repo not in Path(simulation.__file__).resolve().parents
result = simulate(programme_from_seed(load_programme_file()), Assumptions(referrals_total=50), 2)
assert "<caption>Par mois" in html_page(result, [])
print("ok")
"""


def test_a_wheel_installed_elsewhere_has_its_templates_migrations_and_static_files(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("passnum-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # Third-party packages from this environment (already installed, offline), listed as a
    # path only: its .pth files (this checkout's editable install) are not run.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "passnum-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [str(python), "-c", CHECK, str(ROOT), str(work)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
