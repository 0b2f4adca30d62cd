"""`passnum up` as a user runs it: killed with kill -9 mid-journey, started again, nothing lost.

The real console script runs in a subprocess on a temporary data folder and free ports;
the journey is driven over HTTP.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from records.seed import DEMO_PASSWORD
from stack.devserver import _alive
from tests.fixtures.api import csrf_from

pytestmark = pytest.mark.devserver

SW_EMAIL = "travailleur.social@aveyron.example"  # a demo account, printed by `passnum up`
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Up:
    """One `passnum up` process and where it listens."""

    data_dir: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()  # after `passnum up`

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['PASSNUM_API_PORT']}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "passnum"), "up", *self.args],
                cwd=self.data_dir.parent,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole below
            )

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"passnum up exited ({self.process.returncode}):\n{self.output()}")
            try:
                healthy = httpx.get(f"{self.api}/api/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                healthy = False
            if healthy and "passnum est prêt" in self.printed():
                return
            time.sleep(0.2)
        pytest.fail(f"passnum up not answering after {STARTUP_TIMEOUT_S} s:\n{self.output()}")

    def dev_server_pid(self) -> int:
        return int((self.data_dir / "temporal.pid").read_text())

    def kill_hard(self) -> None:
        """kill -9 of everything: passnum's process group and its dev server."""
        assert self.process is not None
        dev_pid = self.dev_server_pid()
        os.killpg(self.process.pid, signal.SIGKILL)
        os.kill(dev_pid, signal.SIGKILL)
        self.process.wait(10)
        deadline = time.monotonic() + 10
        while _alive(dev_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(dev_pid)
        self.process = None

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.process = None
        return code

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        pid_file = self.data_dir / "temporal.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def printed(self) -> str:
        """Everything the stack printed: what a test looks for may be followed by many log lines."""
        return self.log.read_text(errors="replace")

    def output(self) -> str:
        """The tail, for failure messages."""
        return self.printed()[-4000:]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PASSNUM_DATA_DIR": str(data_dir),
        "PASSNUM_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "PASSNUM_TEMPORAL_UI_PORT": str(free_port()),
        "PASSNUM_API_PORT": str(free_port()),
        "PASSNUM_SMTP_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PASSNUM_DATABASE_URL", None)
    stack = Up(data_dir=data_dir, env=env, log=tmp_path / "up.log")
    try:
        yield stack
    finally:
        stack.cleanup()
        print(stack.output())  # shown by pytest when the test failed


def login(http: httpx.Client, email: str) -> dict:
    """Log in through the login form; the client's cookies carry the session. Returns /me
    (with the CSRF token that changes made with the cookie must send)."""
    page = http.get("/connexion")
    r = http.post(
        "/connexion",
        data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert r.status_code == 303, r.text
    me = http.get("/api/v1/me")
    assert me.status_code == 200, me.text
    return me.json()


def post(http: httpx.Client, path: str, json: dict | None = None, **headers: str) -> dict:
    csrf = http.get("/api/v1/me").json()["csrf_token"]
    r = http.post(path, json=json, headers={"X-CSRF-Token": csrf, **headers})
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_kill_9_mid_journey_loses_nothing(up: Up) -> None:
    up.start()
    up.wait_ready()
    assert (up.data_dir / "passnum.db").exists() and (up.data_dir / "temporal.db").exists()

    printed = up.log.read_text(errors="replace")
    assert SW_EMAIL in printed and DEMO_PASSWORD in printed  # demo logins printed

    with httpx.Client(base_url=up.api, timeout=30) as http:
        me = login(http, SW_EMAIL)
        mediations = http.get("/api/v1/structures", params={"kind": "mediation"}).json()
        journey = post(
            http,
            "/api/v1/referrals",
            {
                "reception_structure_id": me["reception_structure_id"],
                "person": {"first_name": "Roger", "last_name": "Costes", "commune": "Rodez"},
                "consent": {"given": True, "text": "J'accepte."},
            },
            **{"Idempotency-Key": str(uuid.uuid4())},
        )
        jid = journey["journey_id"]
        post(
            http,
            f"/api/v1/journeys/{jid}/assessments",
            {"tool": "PIX", "autonomy": "NONE", "needs": ["SMARTPHONE", "ADMIN_PROCEDURES"]},
        )
        booklet = post(http, f"/api/v1/journeys/{jid}/booklet")
        assert booklet["stage"] == "BOOKLET_ISSUED"
        serials = [c["serial"] for c in booklet["cheques"]]
        assert len(serials) == 10
        cookies = http.cookies

    up.kill_hard()
    up.start()
    up.wait_ready()

    # The session is in the database: it survives the restart.
    with httpx.Client(base_url=up.api, timeout=30, cookies=cookies) as http:
        again = http.get(f"/api/v1/journeys/{jid}")
        assert again.status_code == 200, again.text
        assert again.json()["stage"] == "BOOKLET_ISSUED"
        assert [c["serial"] for c in again.json()["cheques"]] == serials
        listed = http.get("/api/v1/journeys", params={"stage": "BOOKLET_ISSUED"}).json()
        assert jid in {item["id"] for item in listed["items"]}
        # The journey goes on: its workflow is alive and answers Updates.
        oriented = post(
            http,
            f"/api/v1/journeys/{jid}/orientation",
            {"mediation_structure_id": mediations[0]["id"]},
        )
        assert oriented["stage"] == "ORIENTED"

    dev_pid = up.dev_server_pid()
    assert up.stop() == 0
    assert not _alive(dev_pid)
    assert not (up.data_dir / "temporal.pid").exists()


def test_dev_server_does_not_outlive_a_killed_passnum(up: Up) -> None:
    """kill -9 of passnum alone (not its group): the dev server stops, the next start works."""
    up.start()
    up.wait_ready()
    assert up.process is not None
    dev_pid = up.dev_server_pid()
    up.process.send_signal(signal.SIGKILL)
    up.process.wait(10)
    deadline = time.monotonic() + 20
    while _alive(dev_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(dev_pid)
    up.start()
    up.wait_ready()
    assert up.dev_server_pid() != dev_pid
    assert up.stop() == 0


ADMIN_EMAIL = "admin@aveyron.example"  # the demo administrator
_FORM_ID = re.compile(r'name="form_id" value="([^"]+)"')
_MAIL_LINK = re.compile(r'<a href="/administration/courriels/(\d+)">([^<]*)</a>')


def test_a_referral_is_mailed_into_the_local_mailbox(up: Up) -> None:
    """The embedded default end to end: a referral made in the pages over HTTP is mailed by
    the worker over SMTP to the sink `passnum up` started, and the demo administrator reads
    it on /administration/courriels."""
    up.start()
    up.wait_ready()
    with httpx.Client(base_url=up.api, timeout=30) as sw:
        login(sw, SW_EMAIL)
        form = sw.get("/accompagnement/orienter")
        assert form.status_code == 200, form.text
        r = sw.post(
            "/accompagnement/orienter",
            data={
                "csrf_token": csrf_from(form.text),
                "form_id": _FORM_ID.findall(form.text)[0],
                "person.first_name": "Roger",
                "person.last_name": "Costes",
                "person.email": "roger.costes@example.org",
                "person.commune": "Rodez",
                "person.preferred_channel": "EMAIL",
                "consent": "on",
            },
        )
        assert r.status_code == 303, r.text
        jid = re.findall(r"/parcours/([0-9a-f-]{36})", r.headers["location"])[0]

    # Subject (as the page escapes it) -> recipient.
    wanted = {
        "Votre inscription au Pass numérique est enregistrée": "roger.costes@example.org",
        f"Orientation enregistrée : Roger Costes ({jid[:8].upper()})": SW_EMAIL,
    }
    with httpx.Client(base_url=up.api, timeout=30) as admin:
        login(admin, ADMIN_EMAIL)
        deadline = time.monotonic() + 30
        while True:
            page = admin.get("/administration/courriels")
            assert page.status_code == 200, page.text
            links = {subject: mail_id for mail_id, subject in _MAIL_LINK.findall(page.text)}
            if all(s in links for s in wanted):
                break
            assert time.monotonic() < deadline, f"mails not in the mailbox: {links}\n{up.output()}"
            time.sleep(0.2)
        assert len(links) == 2  # each message once, and nothing else
        texts = {s: admin.get(f"/administration/courriels/{links[s]}").text for s in wanted}
        for subject, recipient in wanted.items():
            assert recipient in texts[subject], subject
        # The referrer's mail links to the journey at the app's public address.
        assert f"/parcours/{jid}" in texts[list(wanted)[1]]
    assert up.stop() == 0
