"""The GraphQL face of `models/enums.py`: each stored enum registered once, with its
description, before any type uses it. Schema modules import these enums from here."""

from __future__ import annotations

import strawberry

from models.enums import (
    ActorRole,
    AppointmentEventKind,
    AppointmentStatus,
    AppointmentType,
    AppRole,
    CheckInFrequency,
    CouponKind,
    ExceptionKind,
    GoalStatus,
    GoalType,
    IntakeQuestionKind,
    Mood,
    NotificationKind,
    PaymentMethod,
    PaymentStatus,
    ProviderEventStatus,
    RefundStatus,
    ReportAction,
    ReportReason,
    ReportStatus,
    ReportTargetType,
    ServiceConfirmation,
    ServiceMode,
    WebhookDeliveryStatus,
)

# appointments
strawberry.enum(AppointmentStatus, description="Where an appointment is in its life cycle.")
strawberry.enum(AppointmentType, description="Kind of consultation; it sets the price.")
strawberry.enum(AppointmentEventKind, description="What an appointment event records.")
strawberry.enum(ActorRole, description="In which capacity someone changed an appointment.")

# availability
strawberry.enum(ExceptionKind, description="What an availability exception does to its date.")

# community
strawberry.enum(ReportTargetType, description="What kind of content a report is about.")
strawberry.enum(ReportReason, description="Why content was reported.")
strawberry.enum(ReportStatus, description="Where a report is in review.")
strawberry.enum(ReportAction, description="What a moderator did about a report.")

# coupons
strawberry.enum(CouponKind, description="How a coupon discounts: a percentage or a fixed amount.")

# goals
strawberry.enum(GoalType, description="What kind of change a goal aims for.")
strawberry.enum(
    GoalStatus,
    description="Where a goal stands. Moves: ACTIVE <-> PAUSED; ACTIVE or PAUSED -> "
    "COMPLETED or ABANDONED. COMPLETED and ABANDONED are final.",
)
strawberry.enum(CheckInFrequency, description="How often the owner plans to check in.")
strawberry.enum(Mood, description="How the owner felt at a check-in.")

# notifications
strawberry.enum(
    NotificationKind,
    description="What a notification tells: a booking CONFIRMED, CANCELLED (by whom: "
    "`actorRole`), RESCHEDULED or LAPSED (unpaid in time); a payment RECEIVED or REFUNDED; "
    "an APPOINTMENT_REMINDER; a REVIEW_REQUESTED after a visit; a REPLY to your post or "
    "comment; your CONTENT_HIDDEN by moderation; your REPORT_RESOLVED; a goal CHECK_IN_DUE. "
    "Also the event kinds of outbound webhooks.",
)

# payments
strawberry.enum(
    PaymentStatus,
    description="State of a payment: PENDING (a checkout is open), PAID, FAILED, or REFUNDED "
    "in full (a partial refund leaves it PAID; see `amountRefunded`).",
)
strawberry.enum(
    PaymentMethod,
    description="How it was paid: at the front desk (CASH, CARD, BANK_TRANSFER) or ONLINE "
    "with a provider.",
)
strawberry.enum(
    ProviderEventStatus,
    description="What became of a provider's webhook event: APPLIED, DEFERRED (a refund "
    "before its payment's success, applied with it) or IGNORED (nothing of ours to change).",
)
strawberry.enum(
    RefundStatus,
    description="Where a refund stands: PENDING (the provider is making it), SUCCEEDED, FAILED.",
)

# services
strawberry.enum(ServiceMode, description="Where a service takes place: in person or by video.")
strawberry.enum(
    ServiceConfirmation,
    description="How a booking of a service is confirmed: AUTOMATIC (on payment, or at once "
    "when nothing is due), or APPROVAL by the doctor first (the booking is REQUESTED).",
)
strawberry.enum(
    IntakeQuestionKind,
    description="What an intake question takes: free TEXT, one CHOICE of a list, or YES_NO.",
)

# users
strawberry.enum(AppRole, description="An app role. Every signed-in user is a PATIENT.")

# webhooks
strawberry.enum(
    WebhookDeliveryStatus,
    description="Where a webhook delivery stands: PENDING (queued or retrying), DELIVERED "
    "(the endpoint answered 2xx), FAILED (out of attempts; replay it), SKIPPED (its endpoint "
    "was inactive when it came due; nothing was sent).",
)

__all__ = [
    "ActorRole",
    "AppRole",
    "AppointmentEventKind",
    "AppointmentStatus",
    "AppointmentType",
    "CheckInFrequency",
    "CouponKind",
    "ExceptionKind",
    "GoalStatus",
    "GoalType",
    "Mood",
    "NotificationKind",
    "PaymentMethod",
    "PaymentStatus",
    "ProviderEventStatus",
    "RefundStatus",
    "ReportAction",
    "ReportReason",
    "ReportStatus",
    "ReportTargetType",
    "WebhookDeliveryStatus",
]
