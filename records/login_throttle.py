"""Login throttling: slow down password guessing without letting a stranger lock a
professional out of their account; the same counts, by `kind`, slow down OpenID Connect
sign-ins that fail and cap password-reset requests.

Every password login is a `login_attempt` row (kind "password"; e-mail as typed, client
address, instant, succeeded), so every API replica counts alike. Each kind counts only its
own rows, under its own `ThrottleRule`; a scope whose setting is None does not apply:

- "password": the three scopes below;
- "oidc": a failed OpenID Connect callback (altered answer, state mismatch, person refused),
  per address only (no e-mail is known before the provider's answer is checked: rows carry
  an empty one); a successful sign-in forgets its reservation (`forget_attempt`) and marks
  nothing as known, so signing in once does not buy an address more failures;
- "reset": every accepted password-reset request (whether the e-mail has an account or
  not, so the counts tell nothing of it), under hard caps per e-mail (`account_max`) and
  per address (`address_max`).

For passwords, failures count within `window`; three scopes each allow a few free
failures, then make each further attempt wait a delay that doubles with every failure (2 s, 4 s, 8 s … capped at `max_delay`) after the scope's last failure:

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
Kind = Literal["password", "oidc", "reset"]


@dataclass(frozen=True)
class ThrottleRule:
    """Free counts before doubling delays (`*_free`) and hard caps within the window
    (`*_max`); None: that scope does not apply to this kind."""

    window: timedelta
    pair_free: int | None
    address_free: int | None
    address_max: int | None
    account_free: int | None
    max_delay: timedelta
    known_for: timedelta
    kind: Kind = "password"
    account_max: int | None = None

    def delay(self, failures: int, free: int | None) -> timedelta | None:
        """The wait after the last of `failures`, or None while they are free."""
        if free is None or failures < free:
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


def _known_addresses(kind: Kind, email: str, since: datetime) -> ColumnElement[bool]:
    """Addresses this e-mail signed in from since `since` (a subquery)."""
    known = select(LoginAttempt.address).where(
        col(LoginAttempt.kind) == kind,
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
    in_window = (col(LoginAttempt.kind) == rule.kind, col(LoginAttempt.at) > since)
    refusals: list[Refusal] = []

    def wait(scope: Scope, failures: int, latest: datetime | None, free: int | None) -> None:
        delay = rule.delay(failures, free)
        if delay is not None and latest is not None and latest + delay > now:
            refusals.append(Refusal(latest + delay, scope))

    def cap(scope: Scope, failures: int, most: int | None, *where: ColumnElement[bool]) -> None:
        if most is not None and failures >= most:
            refusals.append(Refusal(_oldest_failure(session, *where) + rule.window, scope))

    by_pair = (col(LoginAttempt.email) == email, col(LoginAttempt.address) == address)
    known_pair = 0
    if rule.pair_free is not None:
        wait("pair", *_failures(session, *by_pair, *in_window), rule.pair_free)
        known_pair = session.exec(
            select(func.count()).where(
                col(LoginAttempt.kind) == rule.kind,
                *by_pair,
                col(LoginAttempt.succeeded).is_(True),
                col(LoginAttempt.at) > now - rule.known_for,
            )
        ).one()
    if not known_pair:
        by_address = (col(LoginAttempt.address) == address, *in_window)
        failures, latest = _failures(session, *by_address)
        cap("address", failures, rule.address_max, *by_address)
        wait("address", failures, latest, rule.address_free)
        if rule.account_free is not None or rule.account_max is not None:
            from_strangers = (
                col(LoginAttempt.email) == email,
                *in_window,
                ~_known_addresses(rule.kind, email, now - rule.known_for),
            )
            failures, latest = _failures(session, *from_strangers)
            cap("account", failures, rule.account_max, *from_strangers)
            wait("account", failures, latest, rule.account_free)
    return max(refusals, key=lambda r: r.until, default=None)


def _serialise(session: Session, kind: Kind, email: str, address: str) -> None:
    """PostgreSQL: one reservation at a time per address, then per e-mail (always in this
    order: no deadlock), until the transaction ends. SQLite's writers are serial already."""
    if session.get_bind().dialect.name == "postgresql":
        for key in (f"{kind}-address:{address}", f"{kind}-email:{email}"):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def reserve_attempt(
    session: Session, *, email: str, address: str, now: datetime, rule: ThrottleRule
) -> Refusal | int:
    """The refusal, or the id of a new attempt counted as a failure until `record_success`.
    Purges rows that no longer count. Flushes."""
    email, address = normalise(email), address[:64]
    _serialise(session, rule.kind, email, address)
    of_kind = col(LoginAttempt.kind) == rule.kind
    session.execute(
        delete(LoginAttempt).where(
            of_kind,
            col(LoginAttempt.at) <= now - rule.window,
            col(LoginAttempt.succeeded).is_(False),
        )
    )
    session.execute(
        delete(LoginAttempt).where(
            of_kind,
            col(LoginAttempt.at) <= now - rule.known_for,
            col(LoginAttempt.succeeded).is_(True),
        )
    )
    refusal = wait_until(session, email=email, address=address, now=now, rule=rule)
    if refusal is not None:
        return refusal
    attempt = LoginAttempt(kind=rule.kind, at=now, email=email, address=address, succeeded=False)
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
            col(LoginAttempt.kind) == attempt.kind,
            col(LoginAttempt.email) == attempt.email,
            col(LoginAttempt.address) == attempt.address,
            col(LoginAttempt.id) != attempt_id,
        )
    )
    attempt.succeeded = True
    session.add(attempt)
    session.flush()


def forget_attempt(session: Session, attempt_id: int) -> None:
    """The reserved attempt does not count after all (an OpenID Connect sign-in that
    succeeded, or failed through no fault of the client's). Flushes."""
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.id) == attempt_id))
    session.flush()
