"""Record activities: project journey events onto the read model, number booklets, erase identity.

Sync methods: the worker runs them in its thread pool. Each is one transaction and may be
retried at any time without writing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from domain.contracts import (
    ACTIVITY_ALLOCATE_BOOKLET,
    ACTIVITY_ANONYMISE,
    ACTIVITY_RECORD_EVENT,
    ACTIVITY_RECORD_EVENTS,
    AnonymiseRequest,
    BookletAllocation,
    JourneyEvent,
)
from records import booklet_stock, free_texts
from records.cheque_codes import DEV_CHEQUE_CODE_KEY, CodeVault
from records.db import SessionFactory, begin_write
from records.mail_erasure import erase_journey_mail
from records.models import Beneficiary, Journey
from records.models import BookletAllocation as BookletAllocationRow
from records.projection import is_recorded
from records.projection import record_journey_event as project_event

log = logging.getLogger(__name__)

ALLOCATION_ATTEMPTS = 10


class JourneyActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        serialise_writes: bool = False,
        codes: CodeVault | None = None,
    ) -> None:
        """`serialise_writes` (SQLite): record events one thread at a time. Threads waiting on
        SQLite's write lock poll it with growing sleeps; a lock in the process hands over at
        once. `codes` seals each new cheque's security code (default: the dev-only key, as
        the API's default settings)."""
        self._sessions = sessions
        self._codes = codes or CodeVault(DEV_CHEQUE_CODE_KEY)
        self._write_turn: AbstractContextManager[Any] = (
            threading.Lock() if serialise_writes else nullcontext()
        )
        self._tell: Callable[[str, int], None] | None = None

    def tell_recorded(self, callback: Callable[[str, int], None]) -> None:
        """`callback(journey_id, seq)` once an event with notices is recorded (the worker's
        outbox dispatcher: notifications.outbox_dispatch)."""
        self._tell = callback

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.record_journey_event,
            self.record_journey_events,
            self.allocate_booklet_number,
            self.anonymise_beneficiary,
        ]

    @activity.defn(name=ACTIVITY_RECORD_EVENT)
    def record_journey_event(self, event: JourneyEvent) -> None:
        """One event (journeys recorded before `record_journey_events` still call this)."""
        self._record([event])

    @activity.defn(name=ACTIVITY_RECORD_EVENTS)
    def record_journey_events(self, events: list[JourneyEvent]) -> None:
        """The events of one workflow step, in seq order, in one transaction; each is
        skipped if already recorded, so a retry or a partly recorded batch writes once."""
        self._record(events)

    def _record(self, events: list[JourneyEvent]) -> None:
        try:
            with self._write_turn, self._sessions() as session:
                begin_write(session)
                wrote = False
                for event in events:
                    wrote = project_event(session, event, self._codes.new_sealed_code) or wrote
                if wrote:
                    session.commit()
                # else: a retry of an attempt that committed
        except IntegrityError:
            # Another worker recorded the same events meanwhile: done. Anything else is a
            # real error and Temporal retries it (the next attempt skips what is recorded).
            with self._sessions() as session:
                if all(is_recorded(session, e.journey_id, e.seq) for e in events):
                    log.info(
                        "events %s#%s recorded concurrently",
                        events[0].journey_id,
                        ",".join(str(e.seq) for e in events),
                    )
                    self._tell_dispatcher(events)
                    return
            raise
        self._tell_dispatcher(events)

    def _tell_dispatcher(self, events: list[JourneyEvent]) -> None:
        if self._tell is not None:
            for event in events:
                if event.notices:
                    self._tell(event.journey_id, event.seq)

    @activity.defn(name=ACTIVITY_ALLOCATE_BOOKLET)
    def allocate_booklet_number(self, req: BookletAllocation) -> int:
        """The number of the journey's `req.sequence`-th booklet (the first, or the
        replacement of a lost one): the same on every call, unique in the programme, from
        its reception structure's stock when the millésime is stock-managed (a replacement
        too: the structure hands over a new booklet; past its stock, the next free number)."""
        for _ in range(ALLOCATION_ATTEMPTS):
            try:
                with self._sessions() as session:
                    begin_write(session)
                    mine = session.exec(
                        select(BookletAllocationRow.booklet_number).where(
                            BookletAllocationRow.journey_id == req.journey_id,
                            BookletAllocationRow.sequence == req.sequence,
                        )
                    ).first()
                    if mine is not None:
                        return mine
                    journey = session.get(Journey, req.journey_id)
                    number = booklet_stock.next_booklet_number(
                        session,
                        req.programme_code,
                        req.millesime,
                        journey.reception_structure_id if journey is not None else None,
                    )
                    session.add(
                        BookletAllocationRow(
                            journey_id=req.journey_id,
                            sequence=req.sequence,
                            programme_code=req.programme_code,
                            millesime=req.millesime,
                            booklet_number=number,
                            replaces_booklet_number=req.replaces,
                        )
                    )
                    session.commit()
                    return number
            except IntegrityError:
                continue  # a concurrent allocation took the number (or this journey's row)
        raise RuntimeError(f"no booklet number after {ALLOCATION_ATTEMPTS} attempts")

    @activity.defn(name=ACTIVITY_ANONYMISE)
    def anonymise_beneficiary(self, req: AnonymiseRequest) -> None:
        """Erase who the person is and how to reach them, in the records, in the mail sent
        about them (records.mail_erasure) and in what professionals typed about them
        (records.free_texts); keep what statistics need."""
        with self._sessions() as session:
            begin_write(session)
            person = session.exec(
                select(Beneficiary).where(Beneficiary.journey_id == req.journey_id)
            ).first()
            # The mail first: it needs the address the person's row is about to lose.
            erase_journey_mail(session, req.journey_id, person.email if person else None)
            if person is not None and person.anonymised_at is None:
                person.first_name = None
                person.last_name = None
                person.phone = None
                person.email = None
                person.postal_address = None
                if person.birth_year is not None:
                    person.birth_year = person.birth_year // 10 * 10  # age band only
                person.anonymised_at = req.at
            free_texts.erase_journey(session, req.journey_id, req.at)
            journey = session.get(Journey, req.journey_id)
            if journey is not None and journey.anonymised_at is None:
                journey.anonymised_at = req.at
            session.commit()
