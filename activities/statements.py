"""The monthly statements activity: a thin door to records/statements.py.

Sync: the worker runs it in its thread pool. One transaction; retried at any time, it
adds only what the previous attempt did not commit (statement lines are unique by serial).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from temporalio import activity

from domain.statements import ACTIVITY_BUILD_STATEMENTS, BuildStatements, StatementsBuilt
from records.db import SessionFactory, begin_write
from records.statements import build_statements


class StatementActivities:
    def __init__(self, sessions: SessionFactory, *, serialise_writes: bool = False) -> None:
        self._sessions = sessions
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock() if serialise_writes else nullcontext()
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.build_monthly_statements]

    @activity.defn(name=ACTIVITY_BUILD_STATEMENTS)
    def build_monthly_statements(self, req: BuildStatements) -> StatementsBuilt:
        """The DRAFT statements of `req.month`, for every programme in the records."""
        with self._write_turn, self._sessions() as session:
            begin_write(session)
            report = build_statements(session, month=req.month, at=req.at)
            session.commit()
            return report
