"""What each professional chose to receive (`Account.notification_settings`).

Stored as `{"muted": ["CLOSURE", ...], "reminders_in_digest": true}`. Essential categories
(see `Category.essential`) are sent whatever the settings say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from notifications.categories import DIGESTIBLE, Category
from records.models import Account


class Disposition(StrEnum):
    SEND = "SEND"
    DIGEST = "DIGEST"
    SKIP = "SKIP"


class EssentialCategory(ValueError):
    """Refusal to mute a category that cannot be turned off (French message)."""


@dataclass(frozen=True)
class Preferences:
    muted: frozenset[Category] = frozenset()
    reminders_in_digest: bool = False

    def disposition(self, category: Category) -> Disposition:
        if category.essential:
            return Disposition.SEND
        if category in self.muted:
            return Disposition.SKIP
        if category in DIGESTIBLE and self.reminders_in_digest:
            return Disposition.DIGEST
        return Disposition.SEND

    def to_json(self) -> dict[str, object]:
        return {
            "muted": sorted(c.value for c in self.muted),
            "reminders_in_digest": self.reminders_in_digest,
        }


def parse_preferences(settings: Mapping[str, object] | None) -> Preferences:
    """Read stored settings; unknown or essential categories are ignored."""
    settings = settings or {}
    raw = settings.get("muted") or []
    muted = frozenset(
        Category(x)
        for x in (raw if isinstance(raw, list) else [])
        if x in Category.__members__ and not Category(x).essential
    )
    return Preferences(muted=muted, reminders_in_digest=bool(settings.get("reminders_in_digest")))


def preferences_of(account: Account) -> Preferences:
    return parse_preferences(account.notification_settings)


def optional_categories() -> list[Category]:
    """What a settings page offers to turn off, in display order."""
    return [c for c in Category if not c.essential]


def set_preferences(
    session: Session,
    account_id: int,
    *,
    muted: Iterable[Category | str],
    reminders_in_digest: bool,
) -> Preferences:
    """Store an account's choices; refuses to mute an essential category. The caller commits."""
    chosen = frozenset(Category(x) for x in muted)
    refused = sorted(c.label for c in chosen if c.essential)
    if refused:
        raise EssentialCategory(
            "Ces messages ne peuvent pas être désactivés : " + ", ".join(refused) + "."
        )
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"account {account_id} not found")
    prefs = Preferences(muted=chosen, reminders_in_digest=reminders_in_digest)
    account.notification_settings = {**(account.notification_settings or {}), **prefs.to_json()}
    session.add(account)
    session.flush()
    return prefs
