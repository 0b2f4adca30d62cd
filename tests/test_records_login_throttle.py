"""The login throttling rule (records.login_throttle) on SQLite and PostgreSQL: free
failures, doubling delays with a cap, the address's hard cap, the account-wide count that
ignores the account's known addresses, and what a success forgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from records.db import SessionFactory
from records.login_throttle import (
    Refusal,
    ThrottleRule,
    forget_attempt,
    record_success,
    reserve_attempt,
    wait_until,
)
from records.models import LoginAttempt

RULE = ThrottleRule(
    window=timedelta(hours=24),
    pair_free=3,
    address_free=10,
    address_max=100,
    account_free=10,
    max_delay=timedelta(seconds=900),
    known_for=timedelta(days=30),
)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "camille@ccas.example"


def attempt(sessions: SessionFactory, email: str, address: str, at: datetime) -> Refusal | int:
    """One login attempt that fails (unless refused): returns the refusal or the row id."""
    with sessions() as s:
        result = reserve_attempt(s, email=email, address=address, now=at, rule=RULE)
        s.commit()
    return result


def succeed(sessions: SessionFactory, email: str, address: str, at: datetime) -> None:
    reserved = attempt(sessions, email, address, at)
    assert isinstance(reserved, int), reserved
    with sessions() as s:
        record_success(s, reserved)
        s.commit()


def add_failures(
    sessions: SessionFactory, email: str, addresses: list[str], last: datetime
) -> None:
    with sessions() as s:
        for i, address in enumerate(addresses):
            at = last - timedelta(seconds=i)
            s.add(LoginAttempt(at=at, email=email, address=address, succeeded=False))
        s.commit()


def wait(sessions: SessionFactory, email: str, address: str, at: datetime) -> Refusal | None:
    with sessions() as s:
        return wait_until(s, email=email, address=address, now=at, rule=RULE)


def test_delays_double_after_the_free_failures_up_to_the_cap(sessions: SessionFactory) -> None:
    delays = [RULE.delay(n, 3) for n in (0, 2, 3, 4, 5, 12, 13, 99)]
    seconds = [d.total_seconds() if d else None for d in delays]
    assert seconds == [None, None, 2, 4, 8, 900, 900, 900]
    now = T0
    for _ in range(3):
        assert isinstance(attempt(sessions, OWNER, "192.0.2.1", now), int)
    refused = attempt(sessions, OWNER, "192.0.2.1", now + timedelta(seconds=1))
    assert refused == Refusal(now + timedelta(seconds=2), "pair")
    # A refused attempt is not counted: the wait does not grow while it is hammered.
    refused = attempt(sessions, OWNER, "192.0.2.1", now + timedelta(seconds=1.5))
    assert refused == Refusal(now + timedelta(seconds=2), "pair")
    later = now + timedelta(seconds=2)
    assert isinstance(attempt(sessions, OWNER, "192.0.2.1", later), int)
    assert wait(sessions, OWNER, "192.0.2.1", later) == Refusal(
        later + timedelta(seconds=4), "pair"
    )
    # Other addresses and accounts are not concerned.
    assert wait(sessions, OWNER, "192.0.2.2", later) is None
    assert wait(sessions, "other@ccas.example", "192.0.2.1", later) is None
    # Failures older than the window no longer count.
    assert wait(sessions, OWNER, "192.0.2.1", later + RULE.window) is None


def test_a_success_forgets_the_pairs_failures_and_makes_the_address_known(
    sessions: SessionFactory,
) -> None:
    for i in range(3):
        attempt(sessions, OWNER, "192.0.2.1", T0 + timedelta(seconds=i))
    succeed(sessions, OWNER, "192.0.2.1", T0 + timedelta(seconds=10))
    succeed(sessions, OWNER, "192.0.2.1", T0 + timedelta(seconds=20))
    with sessions() as s:
        rows = s.exec(select(LoginAttempt).where(col(LoginAttempt.email) == OWNER)).all()
        assert [(r.address, r.succeeded) for r in rows] == [("192.0.2.1", True)]
    # A distributed attack on the account: strangers wait, the known address does not.
    strangers = [f"198.51.100.{i}" for i in range(1, 31)]
    attack_end = T0 + timedelta(hours=1)
    add_failures(sessions, OWNER, strangers, attack_end)
    refusal = wait(sessions, OWNER, "203.0.113.9", attack_end + timedelta(seconds=1))
    assert refusal == Refusal(attack_end + timedelta(seconds=900), "account")
    assert wait(sessions, OWNER, "192.0.2.1", attack_end + timedelta(seconds=1)) is None
    # Failures at an account's known address do not count account-wide: 9 + 2 failures,
    # 9 of them from strangers, below the 10 free ones.
    someone = "someone@ccas.example"
    succeed(sessions, someone, "192.0.2.1", T0)
    add_failures(sessions, someone, strangers[:9], attack_end)
    add_failures(sessions, someone, ["192.0.2.1"] * 2, attack_end)
    assert wait(sessions, someone, "203.0.113.9", attack_end) is None
    add_failures(sessions, someone, strangers[9:10], attack_end)
    assert wait(sessions, someone, "203.0.113.9", attack_end) == Refusal(
        attack_end + timedelta(seconds=2), "account"
    )
    # Known addresses are forgotten after known_for.
    much_later = T0 + RULE.known_for + timedelta(hours=2)
    add_failures(sessions, OWNER, strangers, much_later)
    assert wait(sessions, OWNER, "192.0.2.1", much_later) == Refusal(
        much_later + timedelta(seconds=900), "account"
    )
    # Purged as they stop counting: old failures, then old successes.
    attempt(sessions, "x@ccas.example", "192.0.2.77", much_later)
    with sessions() as s:
        oldest = s.exec(select(LoginAttempt.at).order_by(col(LoginAttempt.at))).first()
        assert oldest is not None and oldest.replace(tzinfo=UTC) > much_later - RULE.window


def test_one_address_is_slowed_then_capped_except_for_accounts_known_there(
    sessions: SessionFactory,
) -> None:
    office = "192.0.2.50"
    succeed(sessions, OWNER, office, T0)
    now = T0 + timedelta(hours=2)
    add_failures(sessions, "robot@example.org", [office] * 10, now)
    assert wait(sessions, "new@ccas.example", office, now) == Refusal(
        now + timedelta(seconds=2), "address"
    )
    add_failures(sessions, "robot@example.org", [office] * 90, now - timedelta(hours=1))
    oldest = now - timedelta(hours=1, seconds=89)
    refusal = wait(sessions, "new@ccas.example", office, now + timedelta(hours=1))
    assert refusal == Refusal(oldest + RULE.window, "address")
    # The account that signs in from this office is not held back by what others did there.
    assert wait(sessions, OWNER, office, now + timedelta(hours=1)) is None


# ---- the other kinds: failed OpenID Connect sign-ins, password-reset requests ----

OIDC_RULE = ThrottleRule(
    kind="oidc",
    window=timedelta(hours=24),
    pair_free=None,
    address_free=2,
    address_max=5,
    account_free=None,
    max_delay=timedelta(seconds=900),
    known_for=timedelta(days=30),
)
RESET_RULE = ThrottleRule(
    kind="reset",
    window=timedelta(hours=1),
    pair_free=None,
    address_free=None,
    address_max=4,
    account_free=None,
    account_max=2,
    max_delay=timedelta(hours=1),
    known_for=timedelta(hours=1),
)


def reserve(
    sessions: SessionFactory, rule: ThrottleRule, email: str, address: str, at: datetime
) -> Refusal | int:
    with sessions() as s:
        result = reserve_attempt(s, email=email, address=address, now=at, rule=rule)
        s.commit()
    return result


def kinds(sessions: SessionFactory) -> list[str]:
    with sessions() as s:
        return sorted(s.exec(select(LoginAttempt.kind)).all())


def test_each_kind_counts_only_its_own_rows(sessions: SessionFactory) -> None:
    address = "192.0.2.7"
    for i in range(3):  # the pair's free password failures, used up
        assert isinstance(attempt(sessions, OWNER, address, T0 + timedelta(seconds=i)), int)
    assert isinstance(attempt(sessions, OWNER, address, T0 + timedelta(seconds=3)), Refusal)
    # Neither OpenID Connect sign-ins nor reset requests from there are slowed by them...
    assert isinstance(reserve(sessions, OIDC_RULE, "", address, T0 + timedelta(seconds=3)), int)
    assert isinstance(reserve(sessions, RESET_RULE, OWNER, address, T0 + timedelta(seconds=3)), int)
    # ...nor do these count for passwords, and each kind is purged by its own window: two
    # hours on, the reset row is gone, the password and OpenID Connect failures still count.
    later = T0 + timedelta(hours=2)
    assert wait(sessions, OWNER, address, later) is None  # the pair's 16 s wait is over
    assert isinstance(reserve(sessions, RESET_RULE, "other@ccas.example", address, later), int)
    assert kinds(sessions) == ["oidc", "password", "password", "password", "reset"]


def test_failed_oidc_sign_ins_are_counted_per_address_and_a_success_forgets_its_own(
    sessions: SessionFactory,
) -> None:
    address, other = "198.51.100.1", "198.51.100.2"
    first = reserve(sessions, OIDC_RULE, "", address, T0)
    assert isinstance(first, int)
    with sessions() as s:  # this one signed in: not counted, and it buys nothing
        forget_attempt(s, first)
        s.commit()
    assert kinds(sessions) == []
    for i in range(2):  # two free failures
        assert isinstance(reserve(sessions, OIDC_RULE, "", address, T0 + timedelta(seconds=i)), int)
    refused = reserve(sessions, OIDC_RULE, "", address, T0 + timedelta(seconds=2))
    assert refused == Refusal(T0 + timedelta(seconds=1 + 2), "address")
    assert isinstance(reserve(sessions, OIDC_RULE, "", other, T0 + timedelta(seconds=2)), int)
    # Past address_max failures in the window: refused until the oldest leaves it.
    at = T0 + timedelta(seconds=3)
    for _ in range(3):
        assert isinstance(reserve(sessions, OIDC_RULE, "", address, at), int)
        at += timedelta(seconds=900)
    assert reserve(sessions, OIDC_RULE, "", address, at) == Refusal(
        T0 + timedelta(hours=24), "address"
    )


def test_reset_requests_are_capped_per_email_and_per_address(sessions: SessionFactory) -> None:
    here, there = "203.0.113.1", "203.0.113.2"
    victim = "victim@ccas.example"  # account or not: the rule never knows
    assert isinstance(reserve(sessions, RESET_RULE, victim, here, T0), int)
    assert isinstance(reserve(sessions, RESET_RULE, victim.upper(), there, T0), int)
    # No delays: the caps only. The third request for the e-mail, from anywhere, waits
    # until the first leaves the hour; refused requests are not counted.
    for address in (here, there, "203.0.113.3"):
        refused = reserve(sessions, RESET_RULE, victim, address, T0 + timedelta(minutes=5))
        assert refused == Refusal(T0 + timedelta(hours=1), "account")
    assert isinstance(reserve(sessions, RESET_RULE, victim, here, T0 + timedelta(hours=1)), int)
    # Per address: four requests within the hour, whatever the e-mails (the first two from
    # `there` have left it), then refused until the oldest leaves it.
    for i in range(4):
        at = T0 + timedelta(hours=1, minutes=i)
        assert isinstance(reserve(sessions, RESET_RULE, f"x{i}@ccas.example", there, at), int)
    refused = reserve(sessions, RESET_RULE, "y@ccas.example", there, T0 + timedelta(hours=1.5))
    assert refused == Refusal(T0 + timedelta(hours=2), "address")
