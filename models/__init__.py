"""SQLAlchemy models, one entity per module; importing this package registers them all."""

from models.appointment import Appointment
from models.appointment_event import AppointmentEvent
from models.audit_entry import AuditEntry
from models.availability_exception import AvailabilityException
from models.base import Base
from models.clinical_note import ClinicalNote
from models.coach_client import CoachClient
from models.comment import Comment
from models.comment_like import CommentLike
from models.coupon import Coupon
from models.coupon_usage import CouponUsage
from models.doctor import Doctor
from models.doctor_availability import DoctorAvailability
from models.entitlement import Entitlement
from models.goal import Goal
from models.goal_check_in import GoalCheckIn
from models.goal_milestone import GoalMilestone
from models.idempotency_key import IdempotencyKey
from models.lesson import Lesson
from models.lesson_progress import LessonProgress
from models.notification import Notification
from models.payment import Payment
from models.persisted_query import PersistedQuery
from models.post import Post
from models.post_like import PostLike
from models.provider_event import ProviderEvent
from models.rate_limit_bucket import RateLimitBucket
from models.realtime_event import RealtimeEvent
from models.refund import Refund
from models.replica_read_mark import ReplicaReadMark
from models.report import Report
from models.review import Review
from models.service import Service
from models.slot_hold import SlotHold
from models.user import User
from models.user_role import UserRole
from models.webhook_delivery import WebhookDelivery
from models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "Appointment",
    "AppointmentEvent",
    "AuditEntry",
    "AvailabilityException",
    "Base",
    "ClinicalNote",
    "CoachClient",
    "Comment",
    "CommentLike",
    "Coupon",
    "CouponUsage",
    "Doctor",
    "DoctorAvailability",
    "Entitlement",
    "Goal",
    "GoalCheckIn",
    "GoalMilestone",
    "IdempotencyKey",
    "Lesson",
    "LessonProgress",
    "Notification",
    "Payment",
    "PersistedQuery",
    "Post",
    "PostLike",
    "ProviderEvent",
    "RateLimitBucket",
    "RealtimeEvent",
    "Refund",
    "ReplicaReadMark",
    "Report",
    "Review",
    "Service",
    "SlotHold",
    "User",
    "UserRole",
    "WebhookDelivery",
    "WebhookEndpoint",
]
