"""SQLAlchemy models, one entity per module; importing this package registers them all."""

from models.appointment import Appointment
from models.appointment_event import AppointmentEvent
from models.availability_exception import AvailabilityException
from models.base import Base
from models.coupon import Coupon
from models.coupon_usage import CouponUsage
from models.doctor import Doctor
from models.doctor_availability import DoctorAvailability
from models.payment import Payment
from models.review import Review
from models.slot_hold import SlotHold
from models.user import User
from models.user_role import UserRole

__all__ = [
    "Appointment",
    "AppointmentEvent",
    "AvailabilityException",
    "Base",
    "Coupon",
    "CouponUsage",
    "Doctor",
    "DoctorAvailability",
    "Payment",
    "Review",
    "SlotHold",
    "User",
    "UserRole",
]
