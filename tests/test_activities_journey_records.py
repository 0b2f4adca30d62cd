"""Record activities on SQLite and PostgreSQL: idempotent under retries and races."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities.journey_records import JourneyActivities
from domain.contracts import (
    SYSTEM,
    Actor,
    AnonymiseRequest,
    AssessmentState,
    BookletAllocation,
    ChequeState,
    JourneyEvent,
    JourneyStatus,
    Notice,
    OrientationState,
    SessionState,
)
from domain.needs import (
    AssessmentKind,
    AssessmentTool,
    AutonomyLevel,
    Equipment,
    SessionKind,
    SessionPlace,
    Theme,
)
from domain.notices import NoticeKind, Recipient, notice_key
from domain.serials import booklet_serials
from domain.stages import Action, ChequeStatus, OrientationStatus, Outcome, Role, Stage
from domain.validity import valid_until
from records.db import SessionFactory, begin_write
from records.models import (
    Assessment,
    Beneficiary,
    Channel,
    Cheque,
    Journey,
    NotificationOutbox,
    Orientation,
    TrainingSession,
    TransitionLog,
)
from records.models import BookletAllocation as BookletAllocationRow
from records.projection import apply_journey_event
from records.queries import (
    find_cheque,
    get_beneficiary,
    get_journey,
    journey_cheques,
    journey_orientations,
    journey_sessions,
    journey_timeline,
    register_beneficiary,
)
from tests.fixtures.database import count, lock_waits

JID = "6f1c0e2a-4b7d-4f4e-9d59-1f0c2b7a9e01"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOCIAL_WORKER = Actor(Role.SOCIAL_WORKER, "sw-1")
MEDIATOR = Actor(Role.MEDIATOR, "med-3")
SERIALS = booklet_serials(12, 2026, 41, 10)


def record(sessions: SessionFactory, *events: JourneyEvent) -> None:
    """Each event recorded by the activity, in that order."""
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    for event in events:
        env.run(activities.record_journey_event, event)


def race_a_second_worker(
    sessions: SessionFactory, events: list[JourneyEvent], second_worker: Callable[[], object]
) -> None:
    """A first worker applies `events` under the write lock; `second_worker` records the same
    in a thread meanwhile; the first commits; the second must end without error."""
    first = sessions()
    begin_write(first)
    for event in events:
        apply_journey_event(first, event)

    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            second_worker()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with lock_waits(sessions) as held:
        thread = threading.Thread(target=run_second)
        thread.start()
        held()  # commit only once the second worker waits on the lock the first holds
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []


def referred_status(journey_id: str = JID) -> JourneyStatus:
    return JourneyStatus(
        journey_id=journey_id,
        programme_code=12,
        epci_id=3,
        reception_structure_id=9,
        referrer=SOCIAL_WORKER,
        stage=Stage.REFERRED,
        stage_dates={Stage.REFERRED: T0},
        last_activity_at=T0,
        seq=1,
    )


def referral_event(journey_id: str = JID) -> JourneyEvent:
    kind, to = NoticeKind.REFERRAL_RECORDED, Recipient.BENEFICIARY
    return JourneyEvent(
        journey_id=journey_id,
        seq=1,
        at=T0,
        actor=SOCIAL_WORKER,
        action=Action.REFERRED,
        from_stage=None,
        to_stage=Stage.REFERRED,
        status=referred_status(journey_id),
        notices=[
            Notice(kind, to, notice_key(journey_id, 1, kind, to)),
            Notice(kind, Recipient.REFERRER, notice_key(journey_id, 1, kind, Recipient.REFERRER)),
        ],
    )


def training_event(seq: int = 6) -> JourneyEvent:
    """The journey five changes later: assessed, booklet, oriented, accepted, one session."""
    at = T0 + timedelta(days=20)
    assessed = AssessmentState(
        AssessmentKind.ENTRY,
        AssessmentTool.ABC_DIAG,
        AutonomyLevel.BEGINNER,
        [Theme.ADMIN_PROCEDURES, Theme.EMAIL],
        T0 + timedelta(days=1),
    )
    cheques = [ChequeState(x.digits, x.cheque_number, ChequeStatus.ISSUED) for x in SERIALS]
    for c in cheques[:2]:
        c.status = ChequeStatus.REDEEMED
        c.session_id, c.redeemed_on, c.mediation_structure_id = "sess-1", date(2026, 3, 22), 5
    status = dataclasses.replace(
        referred_status(),
        stage=Stage.IN_TRAINING,
        stage_dates={
            Stage.REFERRED: T0,
            Stage.ASSESSED: T0 + timedelta(days=1),
            Stage.BOOKLET_ISSUED: T0 + timedelta(days=2),
            Stage.ORIENTED: T0 + timedelta(days=3),
            Stage.IN_TRAINING: T0 + timedelta(days=5),
        },
        last_activity_at=at,
        entry_assessment=assessed,
        millesime=2026,
        booklet_number=41,
        valid_until=valid_until(2026),
        cheques=cheques,
        orientation=OrientationState(
            "orient-1",
            5,
            OrientationStatus.ACCEPTED,
            T0 + timedelta(days=3),
            answered_at=T0 + timedelta(days=5),
        ),
        mediation_structure_id=5,
        sessions=[
            SessionState(
                session_id="sess-1",
                mediation_structure_id=5,
                day=date(2026, 3, 22),
                duration_minutes=120,
                kind=SessionKind.COLLECTIVE,
                place=SessionPlace.ON_SITE,
                themes=[Theme.ADMIN_PROCEDURES],
                equipment=[Equipment.LENT_EQUIPMENT],
                autonomy_observed=AutonomyLevel.BEGINNER,
                # As typed by a mediator: separators are normalised away.
                serials=[SERIALS[0].display, SERIALS[1].digits],
                logged_at=at,
            )
        ],
        seq=seq,
    )
    return JourneyEvent(
        journey_id=JID,
        seq=seq,
        at=at,
        actor=MEDIATOR,
        action=Action.SESSION_LOGGED,
        from_stage=Stage.IN_TRAINING,
        to_stage=Stage.IN_TRAINING,
        status=status,
        detail={"session_id": "sess-1"},
    )


def test_a_retried_activity_writes_once(sessions: SessionFactory) -> None:
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    event = referral_event()

    env.run(activities.record_journey_event, event)
    # The worker crashed after the commit, before reporting: Temporal runs attempt 2.
    env.info = dataclasses.replace(env.info, attempt=2)
    env.run(activities.record_journey_event, event)

    assert count(sessions, TransitionLog) == 1
    assert count(sessions, NotificationOutbox) == 2
    with sessions() as s:
        journey = get_journey(s, JID)
        assert journey is not None
        assert (journey.stage, journey.last_seq, journey.workflow_id) == (
            "REFERRED",
            1,
            f"journey-{JID}",
        )
        assert journey.referred_at == T0 and journey.last_activity_at == T0
        outbox = s.exec(select(NotificationOutbox).order_by(NotificationOutbox.recipient)).all()
        assert [(o.kind, o.recipient, o.status) for o in outbox] == [
            ("REFERRAL_RECORDED", "BENEFICIARY", "PENDING"),
            ("REFERRAL_RECORDED", "REFERRER", "PENDING"),
        ]


def test_events_update_the_journey_and_its_rows(sessions: SessionFactory) -> None:
    record(sessions, referral_event(), training_event())

    with sessions() as s:
        journey = get_journey(s, JID)
        assert journey is not None
        assert journey.stage == "IN_TRAINING" and journey.last_seq == 6
        assert journey.booklet_issued_at == T0 + timedelta(days=2)
        assert journey.training_started_at == T0 + timedelta(days=5)
        assert (journey.millesime, journey.booklet_number) == (2026, 41)
        assert journey.valid_until == valid_until(2026)
        assert (journey.cheques_total, journey.cheques_redeemed, journey.sessions_count) == (
            10,
            2,
            1,
        )
        assert journey.mediation_structure_id == 5
        assert (journey.orientation_status, journey.orientation_structure_id) == ("ACCEPTED", 5)
        assert (journey.entry_autonomy, journey.exit_autonomy) == ("BEGINNER", None)

        assert [(t.seq, t.action) for t in journey_timeline(s, JID)] == [
            (1, "REFERRED"),
            (6, "SESSION_LOGGED"),
        ]
        cheques = journey_cheques(s, JID)
        assert [c.number for c in cheques] == list(range(1, 11))
        assert [c.status for c in cheques[:3]] == ["REDEEMED", "REDEEMED", "ISSUED"]
        spent = find_cheque(s, SERIALS[1].digits)
        assert spent is not None and spent.journey_id == JID
        assert (spent.session_id, spent.redeemed_on, spent.mediation_structure_id) == (
            "sess-1",
            date(2026, 3, 22),
            5,
        )
        assert find_cheque(s, SERIALS[2].display) is None  # lookups take canonical digits

        (session,) = journey_sessions(s, JID)
        assert session.serials == [SERIALS[0].digits, SERIALS[1].digits]
        assert (session.themes, session.equipment) == (["ADMIN_PROCEDURES"], ["LENT_EQUIPMENT"])
        (orientation,) = journey_orientations(s, JID)
        assert orientation.status == "ACCEPTED"
        entry = s.exec(select(Assessment)).one()
        assert (entry.kind, entry.tool, entry.needs) == (
            "ENTRY",
            "ABC_DIAG",
            ["ADMIN_PROCEDURES", "EMAIL"],
        )

    # A later event: the exit assessment, stalled flag cleared, cheques reimbursed.
    later = training_event(seq=7)
    status = later.status
    status.exit_assessment = AssessmentState(
        AssessmentKind.EXIT, AssessmentTool.ABC_DIAG, AutonomyLevel.AUTONOMOUS, [], later.at
    )
    status.cheques[0].status = ChequeStatus.REIMBURSED
    record(sessions, dataclasses.replace(later, action=Action.EXIT_ASSESSED))
    with sessions() as s:
        journey = get_journey(s, JID)
        assert journey is not None and journey.exit_autonomy == "AUTONOMOUS"
        assert journey.cheques_redeemed == 2  # reimbursed still counts as spent
        assert find_cheque(s, SERIALS[0].digits).status == "REIMBURSED"  # type: ignore[union-attr]
    assert count(sessions, Assessment) == 2
    assert count(sessions, Cheque) == 10
    assert count(sessions, TrainingSession) == 1
    assert count(sessions, Orientation) == 1


def test_a_late_older_event_does_not_rewind_the_journey(sessions: SessionFactory) -> None:
    record(sessions, training_event(), referral_event())
    with sessions() as s:
        journey = get_journey(s, JID)
        assert journey is not None and (journey.stage, journey.last_seq) == ("IN_TRAINING", 6)
        assert [t.seq for t in journey_timeline(s, JID)] == [1, 6]
    assert count(sessions, NotificationOutbox) == 2


def test_a_concurrent_duplicate_ends_with_one_write(sessions: SessionFactory) -> None:
    """Two workers record the same event: the second waits for the first, then does nothing."""
    activities = JourneyActivities(sessions)
    race_a_second_worker(
        sessions,
        [referral_event()],  # flushed, not committed
        lambda: ActivityEnvironment().run(activities.record_journey_event, referral_event()),
    )
    assert count(sessions, TransitionLog) == 1
    assert count(sessions, NotificationOutbox) == 2
    assert count(sessions, Journey) == 1


def test_booklet_numbers_are_stable_per_journey_and_unique(sessions: SessionFactory) -> None:
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()

    def allocate(journey_id: str, programme: int = 12) -> int:
        return env.run(
            activities.allocate_booklet_number, BookletAllocation(journey_id, programme, 2026)
        )

    assert allocate("j-1") == 1
    assert allocate("j-2") == 2
    assert allocate("j-1") == 1  # a retry gets the same booklet
    assert allocate("j-3", programme=81) == 1  # numbered per programme

    # Workers allocating at the same time still get distinct numbers.
    journeys = [f"j-par-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(allocate, journeys))
    assert sorted(numbers) == list(range(3, 11))
    assert [allocate(j) for j in journeys] == numbers


def test_a_replacement_booklet_gets_its_own_number_once(sessions: SessionFactory) -> None:
    """A journey's booklets are numbered by sequence: the replacement of a lost booklet is
    a new number (the same on a retry), recorded with the booklet it replaces."""
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()

    def allocate(sequence: int, replaces: int | None = None) -> int:
        req = BookletAllocation("j-lost", 12, 2026, sequence=sequence, replaces=replaces)
        return env.run(activities.allocate_booklet_number, req)

    first = allocate(1)
    second = allocate(2, replaces=first)
    assert second != first
    assert allocate(2, replaces=first) == second  # a retry
    assert allocate(1) == first
    with sessions() as s:
        rows = s.exec(
            select(BookletAllocationRow).where(BookletAllocationRow.journey_id == "j-lost")
        ).all()
    assert sorted((r.sequence, r.booklet_number, r.replaces_booklet_number) for r in rows) == [
        (1, first, None),
        (2, second, first),
    ]


def test_anonymisation_erases_identity_and_keeps_statistics(sessions: SessionFactory) -> None:
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    env.run(activities.record_journey_event, referral_event())
    with sessions() as s:
        register_beneficiary(
            s,
            idempotency_key="form-1",
            journey_id=JID,
            first_name="Josette",
            last_name="Fabre",
            birth_year=1948,
            phone="06 12 34 56 78",
            email="josette@example.org",
            postal_address="3 rue du Touat, 12000 Rodez",
            commune="Rodez",
            preferred_channel=Channel.POST,
            consent_given_at=T0,
            consent_text="J'accepte.",
            consent_recorded_by="sw-1",
        )
        s.commit()

    at = T0 + timedelta(days=800)
    env.run(activities.anonymise_beneficiary, AnonymiseRequest(JID, at))
    env.run(activities.anonymise_beneficiary, AnonymiseRequest(JID, at + timedelta(hours=1)))
    # A journey with no person on file (never registered) is not an error.
    env.run(activities.anonymise_beneficiary, AnonymiseRequest("unknown", at))

    with sessions() as s:
        person = get_beneficiary(s, JID)
        assert person is not None
        assert (person.first_name, person.last_name, person.phone) == (None, None, None)
        assert (person.email, person.postal_address) == (None, None)
        assert (person.birth_year, person.commune) == (1940, "Rodez")
        assert person.anonymised_at == at  # the second call changed nothing
        journey = get_journey(s, JID)
        assert journey is not None and journey.anonymised_at == at
        assert journey.stage == "REFERRED"  # the workflow's event moves the stage
    assert count(sessions, Beneficiary) == 1


# ---- several events of one workflow step ----


def closing_events() -> list[JourneyEvent]:
    """The last session (seq 6) and the closure it causes (seq 7), as one step records them."""
    session = training_event(seq=6)
    closed = dataclasses.replace(
        session.status,
        stage=Stage.CLOSED,
        stage_dates={**session.status.stage_dates, Stage.CLOSED: session.at},
        outcome=Outcome.COMPLETED,
        closed_at=session.at,
        cheques=[
            dataclasses.replace(c, status=ChequeStatus.CANCELLED)
            if c.status == ChequeStatus.ISSUED
            else c
            for c in session.status.cheques
        ],
        seq=7,
    )
    kind, to = NoticeKind.JOURNEY_CLOSED, Recipient.REFERRER
    closure = JourneyEvent(
        journey_id=JID,
        seq=7,
        at=session.at,
        actor=SYSTEM,
        action=Action.CLOSED,
        from_stage=Stage.IN_TRAINING,
        to_stage=Stage.CLOSED,
        status=closed,
        detail={"outcome": "COMPLETED"},
        notices=[Notice(kind, to, notice_key(JID, 7, kind, to))],
    )
    return [session, closure]


def test_one_step_records_its_events_together_once(sessions: SessionFactory) -> None:
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    env.run(activities.record_journey_event, referral_event())
    env.run(activities.record_journey_events, closing_events())
    env.info = dataclasses.replace(env.info, attempt=2)  # a retry after the commit
    env.run(activities.record_journey_events, closing_events())

    with sessions() as s:
        journey = get_journey(s, JID)
        assert journey is not None
        assert (journey.stage, journey.outcome, journey.last_seq) == ("CLOSED", "COMPLETED", 7)
        assert (journey.cheques_total, journey.cheques_redeemed, journey.sessions_count) == (
            2,
            2,
            1,
        )
        assert [(t.seq, t.action) for t in journey_timeline(s, JID)] == [
            (1, "REFERRED"),
            (6, "SESSION_LOGGED"),
            (7, "CLOSED"),
        ]
        statuses = [c.status for c in journey_cheques(s, JID)]
        assert statuses == ["REDEEMED"] * 2 + ["CANCELLED"] * 8
    assert count(sessions, NotificationOutbox) == 3
    assert count(sessions, TrainingSession) == 1


def test_a_partly_recorded_step_records_the_rest(sessions: SessionFactory) -> None:
    """The first event of the step was recorded on its own (e.g. by a worker running the
    code before `record_journey_events`): the step's call adds only the second."""
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    session, closure = closing_events()
    env.run(activities.record_journey_event, session)
    env.run(activities.record_journey_events, [session, closure])
    with sessions() as s:
        assert [t.seq for t in journey_timeline(s, JID)] == [6, 7]
        journey = get_journey(s, JID)
        assert journey is not None and journey.stage == "CLOSED"
    assert count(sessions, NotificationOutbox) == 1


def test_a_concurrent_duplicate_step_ends_with_one_write(sessions: SessionFactory) -> None:
    activities = JourneyActivities(sessions)
    race_a_second_worker(
        sessions,
        closing_events(),  # not committed yet
        lambda: ActivityEnvironment().run(activities.record_journey_events, closing_events()),
    )
    assert count(sessions, TransitionLog) == 2
    assert count(sessions, NotificationOutbox) == 1


# ---- orientations ----


def oriented_event(seq: int, orientation: OrientationState, **changes: object) -> JourneyEvent:
    """The journey at `seq` with `orientation` as its current one."""
    stage = Stage.ORIENTED if orientation.status == OrientationStatus.PENDING else Stage.IN_TRAINING
    status = dataclasses.replace(referred_status(), stage=stage, orientation=orientation, seq=seq)
    event = JourneyEvent(
        journey_id=JID,
        seq=seq,
        at=orientation.since,
        actor=SOCIAL_WORKER,
        action=Action.ORIENTED,
        from_stage=Stage.BOOKLET_ISSUED,
        to_stage=stage,
        status=status,
        detail={"orientation_id": orientation.orientation_id},
    )
    return dataclasses.replace(event, **changes)  # type: ignore[arg-type]


def test_reorienting_a_pending_orientation_cancels_its_row(sessions: SessionFactory) -> None:
    """The status carries only the current orientation: the one it replaced, still pending,
    must not stay PENDING in the read model (mediators would still see the request)."""
    activities = JourneyActivities(sessions)
    env = ActivityEnvironment()
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (3, 40, 45))
    first = OrientationState("orient-1", 5, OrientationStatus.PENDING, t1)
    second = OrientationState("orient-2", 6, OrientationStatus.PENDING, t2)
    env.run(activities.record_journey_event, oriented_event(2, first))
    env.run(
        activities.record_journey_event,
        oriented_event(
            3,
            second,
            action=Action.REORIENTED,
            detail={"orientation_id": "orient-2", "previous_orientation_id": "orient-1"},
        ),
    )
    with sessions() as s:
        rows = {o.orientation_id: o for o in journey_orientations(s, JID)}
        assert (rows["orient-1"].status, rows["orient-1"].answered_at) == ("CANCELLED", t2)
        assert (rows["orient-2"].status, rows["orient-2"].answered_at) == ("PENDING", None)
        journey = get_journey(s, JID)
        assert journey is not None and journey.orientation_status == "PENDING"

    # Accepted, then a coordinator re-orients the trainee: the accepted row stays ACCEPTED.
    accepted = dataclasses.replace(second, status=OrientationStatus.ACCEPTED, answered_at=t3)
    env.run(activities.record_journey_event, oriented_event(4, accepted))
    third = OrientationState("orient-3", 7, OrientationStatus.PENDING, t3 + timedelta(days=1))
    env.run(activities.record_journey_event, oriented_event(5, third, action=Action.REORIENTED))
    with sessions() as s:
        statuses = {o.orientation_id: o.status for o in journey_orientations(s, JID)}
        assert statuses == {
            "orient-1": "CANCELLED",
            "orient-2": "ACCEPTED",
            "orient-3": "PENDING",
        }
