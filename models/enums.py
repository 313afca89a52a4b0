"""Every closed set of values the database stores, defined once.

The models derive their tuples and CHECK constraints from these, and the schema registers
the same classes as its GraphQL enums (`strawberry.enum(AppointmentStatus, ...)` in
`schema/`), so a value added here reaches the column check, the validation and the SDL
together (a migration still has to change the constraint in the database;
`tests/project/test_enums.py` fails until it does). Member order is the SDL's order.
"""

from __future__ import annotations

from enum import StrEnum


class AppRole(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    COACH = "coach"
    STAFF = "staff"
    ADMIN = "admin"


class ExceptionKind(StrEnum):
    BLOCKED = "blocked"
    CUSTOM_HOURS = "custom_hours"


class AppointmentStatus(StrEnum):
    REQUESTED = "requested"
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    REFUNDED = "refunded"


class AppointmentType(StrEnum):
    STANDARD = "standard"
    FOLLOWUP = "followup"


class ServiceMode(StrEnum):
    IN_PERSON = "in_person"
    VIDEO = "video"


class ServiceConfirmation(StrEnum):
    AUTOMATIC = "automatic"
    APPROVAL = "approval"


class IntakeQuestionKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    YES_NO = "yes_no"


class AppointmentEventKind(StrEnum):
    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    RESCHEDULED = "rescheduled"


class ActorRole(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    STAFF = "staff"
    ADMIN = "admin"
    SERVICE = "service"
    SYSTEM = "system"
    """caregraph itself, between requests (a job: an unpaid booking lapsing)."""


class PaymentStatus(StrEnum):
    PENDING = "pending"
    """A checkout is open: the patient is paying with the provider."""
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    """Refunded in full (a partial refund leaves it PAID with `amountRefunded`)."""


class CouponKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class GoalType(StrEnum):
    IMPROVEMENT = "improvement"
    MAINTENANCE = "maintenance"
    PREVENTION = "prevention"
    HABIT = "habit"


class GoalStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class CheckInFrequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"


class Mood(StrEnum):
    GREAT = "great"
    GOOD = "good"
    OKAY = "okay"
    STRUGGLING = "struggling"


class ReportTargetType(StrEnum):
    POST = "post"
    COMMENT = "comment"


class ReportReason(StrEnum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    MISINFORMATION = "misinformation"
    INAPPROPRIATE = "inappropriate"
    OTHER = "other"


class ReportStatus(StrEnum):
    PENDING = "pending"
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


class ReportAction(StrEnum):
    DISMISS = "dismiss"
    HIDE_CONTENT = "hide_content"
    DELETE_CONTENT = "delete_content"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values as plain strings, in order."""
    return tuple(member.value for member in enum)


def one_of(column: str, enum: type[StrEnum], *, nullable: bool = False) -> str:
    """The SQL of a CHECK that `column` holds one of `enum`'s values."""
    listed = ", ".join(f"'{value}'" for value in values(enum))
    check = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {check}" if nullable else check


class NotificationKind(StrEnum):
    """What a notification is about (also the event kinds of outbound webhooks)."""

    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    BOOKING_LAPSED = "booking_lapsed"
    PAYMENT_RECEIVED = "payment_received"
    PAYMENT_REFUNDED = "payment_refunded"
    APPOINTMENT_REMINDER = "appointment_reminder"
    REVIEW_REQUESTED = "review_requested"
    REPLY = "reply"
    CONTENT_HIDDEN = "content_hidden"
    REPORT_RESOLVED = "report_resolved"
    CHECK_IN_DUE = "check_in_due"


class WebhookDeliveryStatus(StrEnum):
    """Where an outbound webhook delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class PaymentMethod(StrEnum):
    """How a payment was made: at the desk (cash, card, bank transfer) or online."""

    CASH = "cash"
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    ONLINE = "online"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProviderEventStatus(StrEnum):
    APPLIED = "applied"
    DEFERRED = "deferred"
    """A refund that arrived before its payment's success: applied once the success is."""
    IGNORED = "ignored"
