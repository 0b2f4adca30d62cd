"""Funder ledger activities: the end of a millésime (`MillesimeCloseWorkflow`).

A sync method (the worker runs it in its thread pool): one transaction, idempotent, may
be retried at any time (records.ledger.close_millesimes). The ledger's entries themselves
are written by the record activities, with the cheques (records/projection.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from temporalio import activity

from domain.ledger import ACTIVITY_CLOSE_MILLESIMES, CloseReport, CloseRun
from records import ledger
from records.db import SessionFactory, begin_write

log = logging.getLogger(__name__)


class LedgerActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def all(self) -> list[Callable[..., Any]]:
        return [self.close_millesimes]

    @activity.defn(name=ACTIVITY_CLOSE_MILLESIMES)
    def close_millesimes(self, run: CloseRun) -> CloseReport:
        with self._sessions() as session:
            begin_write(session)
            outcomes = ledger.close_millesimes(session, run.at)
            session.commit()
        for o in outcomes:
            log.info(
                "millesime %s of programme %s: %s, %s cents returned, %s cheques not expired",
                o.millesime,
                o.programme_code,
                o.status,
                o.returned_cents,
                o.unexpired,
            )
        return CloseReport(outcomes)
