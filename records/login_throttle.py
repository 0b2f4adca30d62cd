"""Login throttling: slow down password guessing without letting a stranger lock a
professional out of their account.

Every password login is a `login_attempt` row (e-mail as typed, client address, instant,
succeeded), so every API replica counts alike. Failures count within `window`; three scopes
each allow a few free failures, then make each further attempt wait a delay that doubles
with every failure (2 s, 4 s, 8 s … capped at `max_delay`) after the scope's last failure:

- the pair (e-mail, address): `pair_free` failures, then the doubling delays. Only this
  scope applies to a *known* pair, an address from which this account has signed in
  within `known_for`: a stranger elsewhere cannot slow the real user at their usual place.
- the address, whatever the e-mails: `address_free` failures, then doubling delays; past
  `address_max` failures in the window it is refused until its oldest failure leaves the
  window (a spraying robot's hard cap);
- the account, counting only failures from addresses not known for it: `account_free`
  failures, then doubling delays for attempts from addresses not known for it. A
  distributed attack gets about one guess per `max_delay` once the delays are at their cap;
  the real user at their usual address never waits for it.

A refused attempt is not counted (hammering does not push the delay further) and its
password is not checked. An allowed attempt is counted as a failure *before* the password is
checked (`reserve_attempt`), so parallel requests cannot all slip through one opening; a
success then turns it into a success (`record_success`), which forgets the pair's failures
and marks the address as known for the account. Unknown e-mails are throttled the same way.

Functions take a session; writers only flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from records.accounts import normalise_email
from records.models import LoginAttempt

Scope = Literal["pair", "address", "account"]


@dataclass(frozen=True)
class ThrottleRule:
    window: timedelta
    pair_free: int
    address_free: int
    address_max: int
    account_free: int
    max_delay: timedelta
    known_for: timedelta

    def delay(self, failures: int, free: int) -> timedelta | None:
        """The wait after the last of `failures`, or None while they are free."""
        if failures < free:
            return None
        doubled = timedelta(seconds=2 ** min(failures - free + 1, 40))
        return min(doubled, self.max_delay)


@dataclass(frozen=True)
class Refusal:
    """Not before `until`; `scope` says which count refused."""

    until: datetime
    scope: Scope


def normalise(email: str) -> str:
    return normalise_email(email)[:254]


def _failures(session: Session, *where: ColumnElement[bool]) -> tuple[int, datetime | None]:
    """(count, latest instant) of the failures matching `where`."""
    count, latest = session.exec(
        select(func.count(), func.max(LoginAttempt.at)).where(
            col(LoginAttempt.succeeded).is_(False), *where
        )
    ).one()
    return int(count), latest


def _oldest_failure(session: Session, *where: ColumnElement[bool]) -> datetime:
    oldest: datetime = session.exec(
        select(func.min(LoginAttempt.at)).where(col(LoginAttempt.succeeded).is_(False), *where)
    ).one()
    return oldest


def _known_addresses(email: str, since: datetime) -> ColumnElement[bool]:
    """Addresses this e-mail signed in from since `since` (a subquery)."""
    known = select(LoginAttempt.address).where(
        col(LoginAttempt.email) == email,
        col(LoginAttempt.succeeded).is_(True),
        col(LoginAttempt.at) > since,
    )
    return col(LoginAttempt.address).in_(known)


def wait_until(
    session: Session, *, email: str, address: str, now: datetime, rule: ThrottleRule
) -> Refusal | None:
    """When a login for `email` from `address` may be tried, or None if it may now."""
    email, address = normalise(email), address[:64]
    since = now - rule.window
    in_window = col(LoginAttempt.at) > since
    refusals: list[Refusal] = []

    def wait(scope: Scope, failures: int, latest: datetime | None, free: int) -> None:
        delay = rule.delay(failures, free)
        if delay is not None and latest is not None and latest + delay > now:
            refusals.append(Refusal(latest + delay, scope))

    by_pair = (col(LoginAttempt.email) == email, col(LoginAttempt.address) == address)
    wait("pair", *_failures(session, *by_pair, in_window), rule.pair_free)
    known_pair = session.exec(
        select(func.count()).where(
            *by_pair,
            col(LoginAttempt.succeeded).is_(True),
            col(LoginAttempt.at) > now - rule.known_for,
        )
    ).one()
    if not known_pair:
        by_address = (col(LoginAttempt.address) == address, in_window)
        failures, latest = _failures(session, *by_address)
        if failures >= rule.address_max:
            refusals.append(Refusal(_oldest_failure(session, *by_address) + rule.window, "address"))
        wait("address", failures, latest, rule.address_free)
        from_strangers = (
            col(LoginAttempt.email) == email,
            in_window,
            ~_known_addresses(email, now - rule.known_for),
        )
        wait("account", *_failures(session, *from_strangers), rule.account_free)
    return max(refusals, key=lambda r: r.until, default=None)


def _serialise(session: Session, email: str, address: str) -> None:
    """PostgreSQL: one reservation at a time per address, then per e-mail (always in this
    order: no deadlock), until the transaction ends. SQLite's writers are serial already."""
    if session.get_bind().dialect.name == "postgresql":
        for key in (f"login-address:{address}", f"login-email:{email}"):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def reserve_attempt(
    session: Session, *, email: str, address: str, now: datetime, rule: ThrottleRule
) -> Refusal | int:
    """The refusal, or the id of a new attempt counted as a failure until `record_success`.
    Purges rows that no longer count. Flushes."""
    email, address = normalise(email), address[:64]
    _serialise(session, email, address)
    session.execute(
        delete(LoginAttempt).where(
            col(LoginAttempt.at) <= now - rule.window, col(LoginAttempt.succeeded).is_(False)
        )
    )
    session.execute(
        delete(LoginAttempt).where(
            col(LoginAttempt.at) <= now - rule.known_for, col(LoginAttempt.succeeded).is_(True)
        )
    )
    refusal = wait_until(session, email=email, address=address, now=now, rule=rule)
    if refusal is not None:
        return refusal
    attempt = LoginAttempt(at=now, email=email, address=address, succeeded=False)
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    return attempt.id


def record_success(session: Session, attempt_id: int) -> None:
    """The reserved attempt succeeded: it now marks its address as known for the account
    (the pair's older rows go: their failures are forgiven, one success row is enough)."""
    attempt = session.get(LoginAttempt, attempt_id)
    if attempt is None:
        return
    session.execute(
        delete(LoginAttempt).where(
            col(LoginAttempt.email) == attempt.email,
            col(LoginAttempt.address) == attempt.address,
            col(LoginAttempt.id) != attempt_id,
        )
    )
    attempt.succeeded = True
    session.add(attempt)
    session.flush()
