"""SQLAlchemy models, one entity per module; importing this package registers them all."""

from models.appointment import Appointment
from models.availability_exception import AvailabilityException
from models.base import Base
from models.doctor import Doctor
from models.doctor_availability import DoctorAvailability
from models.goal import Goal
from models.goal_check_in import GoalCheckIn
from models.goal_milestone import GoalMilestone
from models.persisted_query import PersistedQuery
from models.user import User
from models.user_role import UserRole

__all__ = [
    "Appointment",
    "AvailabilityException",
    "Base",
    "Doctor",
    "DoctorAvailability",
    "Goal",
    "GoalCheckIn",
    "GoalMilestone",
    "PersistedQuery",
    "User",
    "UserRole",
]
