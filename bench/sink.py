"""The local SMTP sink in its own process, for the benchmarks: its CPU is counted apart and
its SQLite writes leave the bench process's event loop alone.

    python -m bench.sink DATABASE_URL PORT      # until SIGTERM
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time

from notifications.sink import start_sink
from records.db import make_engine, session_factory


def wait_listening(port: int, within: float = 30) -> None:
    """Return once the sink accepts connections on `port`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"no SMTP sink on port {port}")


def main(url: str, port: int) -> None:
    # On standard error: what the sink did not file (a mail sent again, same Message-ID).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = make_engine(url)
    sink = start_sink(session_factory(engine), "127.0.0.1", port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        sink.stop()
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
