"""goals, goal_milestones, goal_check_ins: the owner reads and writes their own goals; a
doctor reads the goals of patients who have a non-cancelled appointment with them; a coach
reads the goals of their assigned clients (coach_clients); admins read and write all.
Milestones and check-ins follow their goal: readable when the goal is, writable when the
goal is.

A doctor or coach who can read a goal cannot write it (FORBIDDEN); a viewer who cannot read
a goal gets NOT_FOUND for writes to it (not-found before forbidden, as RLS behaves).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, false, or_, select, true

from models import Goal, GoalCheckIn, GoalMilestone
from resolvers.core.identity import Viewer
from resolvers.policies.appointments import care_relationship
from resolvers.policies.base import TablePolicy
from resolvers.policies.coaching import coached

ChildT = TypeVar("ChildT", GoalMilestone, GoalCheckIn)


class GoalPolicy(TablePolicy[Goal]):
    model = Goal

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        readable = [Goal.owner_id == viewer.user_id]
        if viewer.doctor_id is not None:
            readable.append(care_relationship(viewer.doctor_id, Goal.owner_id))
        if viewer.is_coach:
            readable.append(coached(viewer.user_id, Goal.owner_id))
        return or_(*readable) if len(readable) > 1 else readable[0]

    def can_create_for(self, viewer: Viewer, owner_id: uuid.UUID) -> bool:
        return viewer.is_service or viewer.is_admin or viewer.user_id == owner_id

    def can_write(self, viewer: Viewer, goal: Goal) -> bool:
        """Update, delete, and every write to the goal's milestones and check-ins."""
        return viewer.is_service or viewer.is_admin or viewer.user_id == goal.owner_id


def _goal_readable(viewer: Viewer, goal_id: Any) -> ColumnElement[bool]:
    """EXISTS a goal with this id that the viewer may read."""
    return select(Goal.id).where(Goal.id == goal_id, goal_policy.read(viewer)).exists()


class _GoalChildPolicy(TablePolicy[ChildT]):
    """goal_milestones and goal_check_ins: readable when their goal is."""

    model: ClassVar[type[GoalMilestone] | type[GoalCheckIn]]

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.is_admin:
            return true()
        if viewer.user_id is None:
            return false()
        return _goal_readable(viewer, self.model.goal_id)


class GoalMilestonePolicy(_GoalChildPolicy[GoalMilestone]):
    model = GoalMilestone


class GoalCheckInPolicy(_GoalChildPolicy[GoalCheckIn]):
    model = GoalCheckIn


goal_policy = GoalPolicy()
milestone_policy = GoalMilestonePolicy()
check_in_policy = GoalCheckInPolicy()
