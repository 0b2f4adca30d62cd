"""One class per message: the notice it answers, the role it is written for, its category,
its templates (`templates/<template>.subject.txt`, `.txt`, `.html`)."""

from __future__ import annotations

from typing import ClassVar

from domain.notices import NoticeKind, Recipient
from notifications.categories import Category


class Message:
    kind: ClassVar[NoticeKind]
    audience: ClassVar[Recipient]
    category: ClassVar[Category]
    template: ClassVar[str]
    # Only told in the daily digest (coordinators are not sent one mail per journey).
    digest_only: ClassVar[bool] = False


class ReferralRecordedForBeneficiary(Message):
    kind, audience = NoticeKind.REFERRAL_RECORDED, Recipient.BENEFICIARY
    category, template = Category.BENEFICIARY, "referral_recorded_beneficiary"


class ReferralRecordedForReferrer(Message):
    kind, audience = NoticeKind.REFERRAL_RECORDED, Recipient.REFERRER
    category, template = Category.REFERRAL, "referral_recorded_referrer"


class OrientationRequest(Message):
    kind, audience = NoticeKind.ORIENTATION_REQUEST, Recipient.MEDIATION_STRUCTURE
    category, template = Category.ORIENTATION, "orientation_request"


class OrientationReminderForMediation(Message):
    kind, audience = NoticeKind.ORIENTATION_REMINDER, Recipient.MEDIATION_STRUCTURE
    category, template = Category.REMINDER, "orientation_reminder_mediation"


class OrientationReminderForReferrer(Message):
    kind, audience = NoticeKind.ORIENTATION_REMINDER, Recipient.REFERRER
    category, template = Category.REMINDER, "orientation_reminder_referrer"


class OrientationDeclined(Message):
    kind, audience = NoticeKind.ORIENTATION_DECLINED, Recipient.REFERRER
    category, template = Category.ORIENTATION, "orientation_declined"


class OrientationExpired(Message):
    kind, audience = NoticeKind.ORIENTATION_EXPIRED, Recipient.REFERRER
    category, template = Category.ORIENTATION, "orientation_expired"


class StageReminderForReferrer(Message):
    kind, audience = NoticeKind.STAGE_REMINDER, Recipient.REFERRER
    category, template = Category.REMINDER, "stage_reminder_referrer"


class StageReminderForMediation(Message):
    kind, audience = NoticeKind.STAGE_REMINDER, Recipient.MEDIATION_STRUCTURE
    category, template = Category.REMINDER, "stage_reminder_mediation"


class NudgeForReferrer(Message):
    kind, audience = NoticeKind.NUDGE, Recipient.REFERRER
    category, template = Category.NUDGE, "nudge_referrer"


class NudgeForMediation(Message):
    kind, audience = NoticeKind.NUDGE, Recipient.MEDIATION_STRUCTURE
    category, template = Category.NUDGE, "nudge_mediation"


class ExpiryWarningForBeneficiary(Message):
    kind, audience = NoticeKind.EXPIRY_WARNING, Recipient.BENEFICIARY
    category, template = Category.BENEFICIARY, "expiry_warning_beneficiary"


class ExpiryWarningForReferrer(Message):
    kind, audience = NoticeKind.EXPIRY_WARNING, Recipient.REFERRER
    category, template = Category.EXPIRY, "expiry_warning_referrer"


class ExpiryWarningForMediation(Message):
    kind, audience = NoticeKind.EXPIRY_WARNING, Recipient.MEDIATION_STRUCTURE
    category, template = Category.EXPIRY, "expiry_warning_mediation"


class JourneyClosedForReferrer(Message):
    kind, audience = NoticeKind.JOURNEY_CLOSED, Recipient.REFERRER
    category, template = Category.CLOSURE, "journey_closed_referrer"


class JourneyClosedForMediation(Message):
    kind, audience = NoticeKind.JOURNEY_CLOSED, Recipient.MEDIATION_STRUCTURE
    category, template = Category.CLOSURE, "journey_closed_mediation"


class BookletLockedForCoordinators(Message):
    """Told at once, not in the digest: someone may be trying other people's cheques."""

    kind, audience = NoticeKind.BOOKLET_LOCKED, Recipient.COORDINATORS
    category, template = Category.SECURITY, "booklet_locked_coordination"


class BookletLockedForReferrer(Message):
    kind, audience = NoticeKind.BOOKLET_LOCKED, Recipient.REFERRER
    category, template = Category.SECURITY, "booklet_locked_referrer"


class MediatorChanged(Message):
    """To the structure the person leaves: they chose another qualified place."""

    kind, audience = NoticeKind.MEDIATOR_CHANGED, Recipient.MEDIATION_STRUCTURE
    category, template = Category.ORIENTATION, "mediator_changed"


class BookletLostForBeneficiary(Message):
    """The person's new booklet: the old cheques no longer count, the new ones do."""

    kind, audience = NoticeKind.BOOKLET_LOST, Recipient.BENEFICIARY
    category, template = Category.BENEFICIARY, "booklet_lost_beneficiary"


class BookletLostForReferrer(Message):
    """The referrer hands over the replacement's slip (whoever declared the loss)."""

    kind, audience = NoticeKind.BOOKLET_LOST, Recipient.REFERRER
    category, template = Category.SECURITY, "booklet_lost_referrer"


class BookletLostForMediation(Message):
    """The structure training the person: the lost booklet's cheques will be refused."""

    kind, audience = NoticeKind.BOOKLET_LOST, Recipient.MEDIATION_STRUCTURE
    category, template = Category.SECURITY, "booklet_lost_mediation"


class JourneyStalled(Message):
    kind, audience = NoticeKind.JOURNEY_STALLED, Recipient.COORDINATORS
    category, template = Category.DIGEST, "digest"
    digest_only = True


class Digest:
    """The daily digest: newly stalled journeys (coordinators) and reminders folded into it."""

    category = Category.DIGEST
    template = "digest"


MESSAGES: dict[tuple[NoticeKind, Recipient], type[Message]] = {
    (m.kind, m.audience): m for m in Message.__subclasses__()
}


def message_for(kind: NoticeKind | str, audience: Recipient | str) -> type[Message]:
    try:
        return MESSAGES[(NoticeKind(kind), Recipient(audience))]
    except KeyError:
        raise LookupError(f"no message for {kind} to {audience}") from None


class AccountMessage:
    """A mail about a professional's own account, carrying a one-time link (no journey; see
    notifications.account_mail)."""

    kind: ClassVar[str]
    template: ClassVar[str]
    category: ClassVar[Category] = Category.SECURITY


class InvitationMessage(AccountMessage):
    """An administrator opened the account: choose a first password (7 days)."""

    kind, template = "ACCOUNT_INVITATION", "account_invitation"


class PasswordResetMessage(AccountMessage):
    """The person asked for a new password (1 hour)."""

    kind, template = "PASSWORD_RESET", "password_reset"
