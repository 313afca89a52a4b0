"""Goals: SMART goals with milestones and check-ins, progress, and care-team visibility."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import date, datetime
from typing import Annotated

import strawberry

from models import Goal as GoalModel
from models import GoalCheckIn as CheckInModel
from models import GoalMilestone as MilestoneModel
from resolvers import goals as goal_resolvers
from resolvers.core import realtime
from resolvers.core.errors import CaregraphError, InvalidTransitionError, NotFound
from resolvers.core.json_reads import python_float
from resolvers.goals import GoalByIdLoader, GoalCheckInByIdLoader, GoalMilestoneByIdLoader
from resolvers.users import UserByIdLoader
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo
from schema.engine.sql_json import sql_field, sql_root, sql_row
from schema.enums import CheckInFrequency, GoalStatus, GoalType, Mood
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    TransitionError,
    UserError,
    ValidationError,
    deleted_id_field,
    deprecated_id_field,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node
from schema.users import User


@strawberry.type(description="A checkpoint on the way to a goal.")
class GoalMilestone(Node):
    id: strawberry.ID = strawberry.field(description="Milestone id.")
    goal_id: strawberry.ID = strawberry.field(description="The goal it belongs to.")
    title: str = strawberry.field(description="What marks this checkpoint.")
    description: str = strawberry.field(description="Details.")
    target_date: date | None = strawberry.field(description="When it should be reached.")
    target_value: float | None = strawberry.field(
        description="The metric value that marks it, if any."
    )
    reward: str = strawberry.field(description="What the owner gets for reaching it.")
    position: int = strawberry.field(description="Order within the goal, from 0.")
    completed: bool = strawberry.field(description="Whether it has been reached.")
    completed_at: datetime | None = strawberry.field(description="When it was marked reached.")
    created_at: datetime = strawberry.field(description="When it was added.")

    @classmethod
    def from_model(cls, row: MilestoneModel) -> GoalMilestone:
        return cls(
            id=format_id("GoalMilestone", row.id),
            goal_id=format_id("Goal", row.goal_id),
            title=row.title,
            description=row.description,
            target_date=row.target_date,
            target_value=float(row.target_value) if row.target_value is not None else None,
            reward=row.reward,
            position=row.position,
            completed=row.completed,
            completed_at=row.completed_at,
            created_at=row.created_at,
        )


@strawberry.type(description="One measurement of a goal's metric on a date.")
class GoalCheckIn(Node):
    id: strawberry.ID = strawberry.field(description="Check-in id.")
    goal_id: strawberry.ID = strawberry.field(description="The goal it belongs to.")
    date: date = strawberry.field(description="The day measured (one check-in per day).")
    value: float = strawberry.field(description="The metric's value that day.")
    note: str = strawberry.field(description="The owner's note.")
    mood: Mood | None = strawberry.field(description="How the owner felt.")
    adherence: int | None = strawberry.field(
        description="How well the owner kept to the plan, 0 to 100 percent."
    )
    created_at: datetime = strawberry.field(description="When it was first recorded.")
    updated_at: datetime = strawberry.field(description="When it was last replaced.")

    @classmethod
    def from_model(cls, row: CheckInModel) -> GoalCheckIn:
        return cls(
            id=format_id("GoalCheckIn", row.id),
            goal_id=format_id("Goal", row.goal_id),
            date=row.date,
            value=float(row.value),
            note=row.note,
            mood=Mood(row.mood) if row.mood is not None else None,
            adherence=row.adherence,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="How many of a goal's milestones are reached.")
class MilestoneCompletion:
    completed: int = strawberry.field(description="Milestones reached.")
    total: int = strawberry.field(description="All milestones of the goal.")
    percent: float | None = strawberry.field(
        description="completed / total as a percentage, 0 to 100; null without milestones."
    )


@strawberry.type(
    description="A SMART goal: a measurable metric moving from a baseline to a target by a "
    "date. Visible to its owner, doctors the owner has a non-cancelled appointment with, "
    "coaches and admins; only the owner and admins change it."
)
class Goal(Node):
    id: strawberry.ID = strawberry.field(description="Goal id.")
    owner_id: strawberry.ID = strawberry.field(description="The user whose goal it is.")
    title: str = strawberry.field(description="Specific: what the goal is.")
    description: str = strawberry.field(description="Details and motivation.")
    type: GoalType = strawberry.field(description="Kind of goal.")
    status: GoalStatus = strawberry.field(description="Where it stands.")
    metric: str = strawberry.field(description="Measurable: what is measured, e.g. Weight.")
    unit: str = strawberry.field(description="Unit of the metric, e.g. kg.")
    baseline_value: float = strawberry.field(description="The metric's value at the start.")
    target_value: float = strawberry.field(
        description="The value to reach; may be below the baseline (e.g. weight loss)."
    )
    current_value: float = strawberry.field(
        description="The latest value: that of the newest-dated check-in (the baseline, "
        "or the value given at creation, until the first check-in)."
    )
    start_date: date = strawberry.field(description="Time-bound: when it starts.")
    target_date: date | None = strawberry.field(description="Time-bound: when it is due.")
    check_in_frequency: CheckInFrequency = strawberry.field(
        description="How often the owner plans to check in."
    )
    importance: int = strawberry.field(description="Relevant: importance from 1 to 5.")
    completed_at: datetime | None = strawberry.field(
        description="When it was marked completed; null unless COMPLETED."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    progress: float = strawberry.field(
        description="Percent of the way from baseline to target: (current - baseline) / "
        "(target - baseline) * 100, clamped to 0..100 and rounded to 0.01. Correct for "
        "targets below the baseline (a decrease is progress). When target equals baseline "
        "(keep a value), progress is 100 while the current value equals the target, else 0."
    )
    row: strawberry.Private[GoalModel]

    @classmethod
    def from_model(cls, row: GoalModel) -> Goal:
        return cls(
            row=row,
            id=format_id("Goal", row.id),
            owner_id=format_id("User", row.owner_id),
            title=row.title,
            description=row.description,
            type=GoalType(row.type),
            status=GoalStatus(row.status),
            metric=row.metric,
            unit=row.unit,
            baseline_value=float(row.baseline_value),
            target_value=float(row.target_value),
            current_value=float(row.current_value),
            start_date=row.start_date,
            target_date=row.target_date,
            check_in_frequency=CheckInFrequency(row.check_in_frequency),
            importance=row.importance,
            completed_at=row.completed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            progress=goal_resolvers.goal_progress(
                row.baseline_value, row.target_value, row.current_value
            ),
        )

    @strawberry.field(
        description="The owner's account, where the users policy lets the viewer see it.",
        metadata=sql_field(goal_resolvers.GOAL_OWNER),
    )
    async def owner(self, info: GraphQLInfo) -> User | None:
        visible = await info.context.loaders.get(UserByIdLoader).load(self.row.owner_id)
        return User.from_visible(visible) if visible is not None else None

    @strawberry.field(description="Milestones in order of `position`.")
    async def milestones(self, info: GraphQLInfo) -> list[GoalMilestone]:
        rows = await goal_resolvers.goal_milestones(info.context, self.row.id)
        return [GoalMilestone.from_model(row) for row in rows]

    @strawberry.field(description="How many milestones are reached.")
    async def milestone_completion(self, info: GraphQLInfo) -> MilestoneCompletion:
        rows = await goal_resolvers.goal_milestones(info.context, self.row.id)
        completion = goal_resolvers.milestone_completion(rows)
        return MilestoneCompletion(
            completed=completion.completed, total=completion.total, percent=completion.percent
        )

    @strawberry.field(
        description="Check-ins, newest date first. `first` defaults to 20, max 100.",
        metadata=sql_field(goal_resolvers.GOAL_CHECK_INS),
    )
    async def check_ins(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
    ) -> Connection[GoalCheckIn]:
        page = await goal_resolvers.goal_check_ins(
            info.context, self.row.id, first=first, after=after
        )
        return connection_from_page(page, GoalCheckIn.from_model)


@strawberry.input(description="Narrow the goals list; all given conditions must hold.")
class GoalFilter:
    status: GoalStatus | None = strawberry.field(default=None, description="In this status.")
    type: GoalType | None = strawberry.field(default=None, description="Of this type.")
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Owned by this user."
    )
    due_before: date | None = strawberry.field(
        default=None,
        description="Target date strictly before this date (goals without one are excluded).",
    )


def _goal_filter(conditions: GoalFilter | None) -> goal_resolvers.GoalFilter:
    conditions = conditions or GoalFilter()
    return goal_resolvers.GoalFilter(
        status=conditions.status.value if conditions.status else None,
        type=conditions.type.value if conditions.type else None,
        owner_id=parse_optional_id(conditions.owner_id, "ownerId", of="User"),
        due_before=conditions.due_before,
    )


@strawberry.type
class GoalsQuery:
    @strawberry.field(
        description="Goals the viewer may read (own; a doctor's patients with a non-cancelled "
        "appointment; all for coaches and admins), newest first. `first` defaults to 20, "
        "max 100.",
        metadata=sql_root(
            lambda ctx, first=None, after=None, filter=None: goal_resolvers.goal_rows(
                ctx, _goal_filter(filter), first=first, after=after
            )
        ),
    )
    async def goals(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[GoalFilter | None, strawberry.argument(description="Conditions.")] = None,
    ) -> Connection[Goal]:
        page = await goal_resolvers.list_goals(
            info.context, _goal_filter(filter), first=first, after=after
        )
        return connection_from_page(page, Goal.from_model)

    @strawberry.field(description="A goal by id; null when absent or not visible.")
    async def goal(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The goal's id.")],
    ) -> Goal | None:
        row = await goal_resolvers.get_goal(info.context, parse_id(id, of="Goal"))
        return Goal.from_model(row) if row is not None else None


async def user_goals(
    info: GraphQLInfo,
    owner_id: uuid.UUID,
    status: GoalStatus | None,
    first: int | None,
    after: str | None,
) -> Connection[Goal]:
    """`User.goals`, batched across users (see schema.users)."""
    page = await goal_resolvers.owner_goals(
        info.context,
        owner_id,
        status=status.value if status else None,
        first=first,
        after=after,
    )
    return connection_from_page(page, Goal.from_model)


# --- typed errors -------------------------------------------------------------------------


@strawberry.type(
    description="The goal cannot move to that status (a TransitionError). Nothing was written."
)
class InvalidStatusTransition(TransitionError):
    from_status: GoalStatus = strawberry.field(description="The goal's current status.")
    to_status: GoalStatus = strawberry.field(description="The requested status.")
    allowed_statuses: list[GoalStatus] = strawberry.field(
        description="The statuses the goal may move to from its current one (none once closed)."
    )


@strawberry.type(
    description="The goal is COMPLETED or ABANDONED: its milestones and check-ins can no "
    "longer change. Nothing was written."
)
class GoalClosed(UserError):
    status: GoalStatus = strawberry.field(description="The goal's status.")


def status_error(
    error: CaregraphError,
) -> InvalidStatusTransition | ValidationError | NotAllowed | NotFoundError:
    """Errors of `updateGoal`."""
    if isinstance(error, InvalidTransitionError):
        return InvalidStatusTransition(
            message=error.message,
            code=error.code,
            from_status=GoalStatus(error.from_status),
            to_status=GoalStatus(error.to_status),
            allowed_statuses=[
                GoalStatus(status)
                for status in sorted(goal_resolvers.STATUS_MOVES.get(error.from_status, ()))
            ],
        )
    return user_error(error)


def _closed_error(
    error: CaregraphError,
) -> GoalClosed | ValidationError | NotAllowed | NotFoundError:
    """Errors of the milestone and check-in mutations."""
    if isinstance(error, goal_resolvers.GoalClosed):
        return GoalClosed(message=error.message, code=error.code, status=GoalStatus(error.status))
    return user_error(error)


# --- goal mutations -----------------------------------------------------------------------


@strawberry.input(description="A new goal.")
class CreateGoalInput:
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins: the owner. Others: omit (the goal is yours)."
    )
    title: str = strawberry.field(description="What the goal is, 1-200 characters.")
    type: GoalType = strawberry.field(description="Kind of goal.")
    baseline_value: float = strawberry.field(description="The metric's value at the start.")
    target_value: float = strawberry.field(description="The value to reach.")
    description: str = strawberry.field(default="", description="Details, up to 5000 chars.")
    metric: str = strawberry.field(default="", description="What is measured, up to 100 chars.")
    unit: str = strawberry.field(default="", description="Unit, up to 40 characters.")
    current_value: float | None = strawberry.field(
        default=None, description="The value now; defaults to the baseline."
    )
    start_date: date | None = strawberry.field(
        default=None, description="Start date; defaults to today (UTC)."
    )
    target_date: date | None = strawberry.field(
        default=None, description="Due date; not before the start date."
    )
    check_in_frequency: CheckInFrequency = strawberry.field(
        default=CheckInFrequency.WEEKLY, description="Planned check-in rhythm."
    )
    importance: int = strawberry.field(default=3, description="Importance, 1 to 5.")


@strawberry.type(description="The goal was created.")
class GoalCreated:
    goal: Goal = strawberry.field(description="The new goal.")


CreateGoalResult = Annotated[
    GoalCreated | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CreateGoalResult", description="Result of createGoal."),
]


@strawberry.input(
    description="Changes to a goal; omitted fields stay. `targetDate: null` clears the date."
)
class UpdateGoalInput:
    id: strawberry.ID = strawberry.field(description="The goal.")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(default=None, description="New details.")
    type: GoalType | None = strawberry.field(default=None, description="New type.")
    status: GoalStatus | None = strawberry.field(
        default=None,
        description="New status: ACTIVE <-> PAUSED, or to COMPLETED (sets completedAt) or "
        "ABANDONED; other moves are an InvalidStatusTransition (a TransitionError).",
    )
    metric: str | None = strawberry.field(default=None, description="New metric.")
    unit: str | None = strawberry.field(default=None, description="New unit.")
    baseline_value: float | None = strawberry.field(default=None, description="New baseline.")
    target_value: float | None = strawberry.field(default=None, description="New target.")
    start_date: date | None = strawberry.field(default=None, description="New start date.")
    target_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="New due date; null removes it."
    )
    check_in_frequency: CheckInFrequency | None = strawberry.field(
        default=None, description="New check-in rhythm."
    )
    importance: int | None = strawberry.field(default=None, description="New importance, 1-5.")


@strawberry.type(description="The goal was saved.")
class GoalUpdated:
    goal: Goal = strawberry.field(description="The updated goal.")


UpdateGoalResult = Annotated[
    GoalUpdated | ValidationError | NotAllowed | NotFoundError | InvalidStatusTransition,
    strawberry.union("UpdateGoalResult", description="Result of updateGoal."),
]


@strawberry.input(description="Delete a goal with its milestones and check-ins.")
class DeleteGoalInput:
    id: strawberry.ID = strawberry.field(description="The goal.")


@strawberry.type(description="The goal was deleted.")
class GoalDeleted:
    id: strawberry.ID = deprecated_id_field("Id of the deleted goal.")
    deleted_id: strawberry.ID = deleted_id_field("Id of the deleted goal.")


DeleteGoalResult = Annotated[
    GoalDeleted | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("DeleteGoalResult", description="Result of deleteGoal."),
]


# --- milestone mutations ------------------------------------------------------------------


@strawberry.input(description="A new milestone of a goal.")
class AddMilestoneInput:
    goal_id: strawberry.ID = strawberry.field(description="The goal.")
    title: str = strawberry.field(description="What marks it, 1-200 characters.")
    description: str = strawberry.field(default="", description="Details.")
    target_date: date | None = strawberry.field(
        default=None, description="When it should be reached; within the goal's dates."
    )
    target_value: float | None = strawberry.field(default=None, description="Metric value.")
    reward: str = strawberry.field(default="", description="Reward, up to 500 characters.")
    position: int | None = strawberry.field(
        default=None, description="Where to insert it (0 = first); default last."
    )


@strawberry.type(description="The milestone was added.")
class MilestoneAdded:
    milestone: GoalMilestone = strawberry.field(description="The new milestone.")
    goal: Goal = strawberry.field(description="Its goal.")


AddMilestoneResult = Annotated[
    MilestoneAdded | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("AddMilestoneResult", description="Result of addMilestone."),
]


@strawberry.input(
    description="Changes to a milestone; omitted fields stay; null `targetDate` or "
    "`targetValue` removes it."
)
class UpdateMilestoneInput:
    id: strawberry.ID = strawberry.field(description="The milestone.")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(default=None, description="New details.")
    target_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="New date; null removes it."
    )
    target_value: float | None = strawberry.field(
        default=strawberry.UNSET, description="New metric value; null removes it."
    )
    reward: str | None = strawberry.field(default=None, description="New reward.")


@strawberry.type(description="The milestone was saved.")
class MilestoneUpdated:
    milestone: GoalMilestone = strawberry.field(description="The updated milestone.")
    goal: Goal = strawberry.field(description="Its goal.")


UpdateMilestoneResult = Annotated[
    MilestoneUpdated | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("UpdateMilestoneResult", description="Result of updateMilestone."),
]


@strawberry.input(description="Mark a milestone reached (or not).")
class CompleteMilestoneInput:
    id: strawberry.ID = strawberry.field(description="The milestone.")
    completed: bool = strawberry.field(
        default=True, description="True marks it reached; false reopens it."
    )


@strawberry.type(description="The milestone's completion was saved.")
class MilestoneCompleted:
    milestone: GoalMilestone = strawberry.field(description="The milestone.")
    goal: Goal = strawberry.field(description="Its goal (see milestoneCompletion).")


CompleteMilestoneResult = Annotated[
    MilestoneCompleted | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("CompleteMilestoneResult", description="Result of completeMilestone."),
]


@strawberry.input(description="A new order for a goal's milestones.")
class ReorderMilestonesInput:
    goal_id: strawberry.ID = strawberry.field(description="The goal.")
    milestone_ids: list[strawberry.ID] = strawberry.field(
        description="Every milestone of the goal exactly once, in the new order."
    )


@strawberry.type(description="The milestones were reordered.")
class MilestonesReordered:
    milestones: list[GoalMilestone] = strawberry.field(description="In the new order.")
    goal: Goal = strawberry.field(description="Their goal.")


ReorderMilestonesResult = Annotated[
    MilestonesReordered | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("ReorderMilestonesResult", description="Result of reorderMilestones."),
]


@strawberry.input(description="Delete a milestone.")
class DeleteMilestoneInput:
    id: strawberry.ID = strawberry.field(description="The milestone.")


@strawberry.type(description="The milestone was deleted; later ones moved up.")
class MilestoneDeleted:
    id: strawberry.ID = deprecated_id_field("Id of the deleted milestone.")
    goal: Goal = strawberry.field(description="Its goal.")
    deleted_id: strawberry.ID = deleted_id_field("Id of the deleted milestone.")


DeleteMilestoneResult = Annotated[
    MilestoneDeleted | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("DeleteMilestoneResult", description="Result of deleteMilestone."),
]


# --- check-in -----------------------------------------------------------------------------


@strawberry.input(
    description="Record the metric's value on a date. One check-in per goal and date: "
    "checking in again for the same date replaces it."
)
class CheckInInput:
    goal_id: strawberry.ID = strawberry.field(description="The goal.")
    date: date = strawberry.field(
        description="The day measured; not before the goal's start, not in the future."
    )
    value: float = strawberry.field(description="The metric's value that day.")
    note: str = strawberry.field(default="", description="A note, up to 2000 characters.")
    mood: Mood | None = strawberry.field(default=None, description="How it went.")
    adherence: int | None = strawberry.field(
        default=None, description="Kept to the plan, 0 to 100 percent."
    )


@strawberry.type(
    description="The check-in was recorded and the goal's current value updated to its "
    "newest-dated check-in."
)
class CheckInRecorded:
    check_in: GoalCheckIn = strawberry.field(description="The check-in.")
    goal: Goal = strawberry.field(description="The goal, with its new current value.")
    replaced: bool = strawberry.field(
        description="True when it replaced an earlier check-in for the same date."
    )


CheckInResult = Annotated[
    CheckInRecorded | ValidationError | NotAllowed | NotFoundError | GoalClosed,
    strawberry.union("CheckInResult", description="Result of checkIn."),
]


@strawberry.type
class GoalsMutation:
    @strawberry.mutation(description="Create a goal: your own, or anyone's as an admin.")
    async def create_goal(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateGoalInput, strawberry.argument(description="The change.")],
    ) -> CreateGoalResult:
        return await mutation_result(
            lambda: goal_resolvers.create_goal(
                info.context,
                parse_optional_id(input.owner_id, "ownerId", of="User"),
                goal_resolvers.GoalSpec(
                    title=input.title,
                    type=input.type.value,
                    baseline_value=input.baseline_value,
                    target_value=input.target_value,
                    description=input.description,
                    metric=input.metric,
                    unit=input.unit,
                    current_value=input.current_value,
                    start_date=input.start_date,
                    target_date=input.target_date,
                    check_in_frequency=input.check_in_frequency.value,
                    importance=input.importance,
                ),
            ),
            lambda row: GoalCreated(goal=Goal.from_model(row)),
        )

    @strawberry.mutation(
        description="Change a goal (owner or admin), including status moves; a doctor or "
        "coach who can read it gets NotAllowed."
    )
    async def update_goal(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateGoalInput, strawberry.argument(description="The change.")],
    ) -> UpdateGoalResult:
        return await mutation_result(
            lambda: goal_resolvers.update_goal(
                info.context,
                parse_id(input.id, of="Goal"),
                goal_resolvers.GoalChanges(
                    title=input.title,
                    description=input.description,
                    type=input.type.value if input.type else None,
                    status=input.status.value if input.status else None,
                    metric=input.metric,
                    unit=input.unit,
                    baseline_value=input.baseline_value,
                    target_value=input.target_value,
                    start_date=input.start_date,
                    target_date=input.target_date if input.target_date else None,
                    clear_target_date=input.target_date is None,
                    check_in_frequency=(
                        input.check_in_frequency.value if input.check_in_frequency else None
                    ),
                    importance=input.importance,
                ),
            ),
            lambda row: GoalUpdated(goal=Goal.from_model(row)),
            status_error,
        )

    @strawberry.mutation(description="Delete a goal with its milestones and check-ins.")
    async def delete_goal(
        self,
        info: GraphQLInfo,
        input: Annotated[DeleteGoalInput, strawberry.argument(description="The change.")],
    ) -> DeleteGoalResult:
        return await mutation_result(
            lambda: goal_resolvers.delete_goal(info.context, parse_id(input.id, of="Goal")),
            lambda deleted: GoalDeleted(id=format_id("Goal", deleted)),
        )

    @strawberry.mutation(description="Add a milestone to a goal (at most 50 per goal).")
    async def add_milestone(
        self,
        info: GraphQLInfo,
        input: Annotated[AddMilestoneInput, strawberry.argument(description="The change.")],
    ) -> AddMilestoneResult:
        return await mutation_result(
            lambda: goal_resolvers.add_milestone(
                info.context,
                parse_id(input.goal_id, "goalId", of="Goal"),
                goal_resolvers.MilestoneSpec(
                    title=input.title,
                    description=input.description,
                    target_date=input.target_date,
                    target_value=input.target_value,
                    reward=input.reward,
                    position=input.position,
                ),
            ),
            lambda saved: MilestoneAdded(
                milestone=GoalMilestone.from_model(saved[0]), goal=Goal.from_model(saved[1])
            ),
            _closed_error,
        )

    @strawberry.mutation(description="Change a milestone's title, details, targets or reward.")
    async def update_milestone(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateMilestoneInput, strawberry.argument(description="The change.")],
    ) -> UpdateMilestoneResult:
        return await mutation_result(
            lambda: goal_resolvers.update_milestone(
                info.context,
                parse_id(input.id, of="GoalMilestone"),
                goal_resolvers.MilestoneChanges(
                    title=input.title,
                    description=input.description,
                    target_date=input.target_date if input.target_date else None,
                    clear_target_date=input.target_date is None,
                    target_value=input.target_value
                    if isinstance(input.target_value, float | int)
                    else None,
                    clear_target_value=input.target_value is None,
                    reward=input.reward,
                ),
            ),
            lambda saved: MilestoneUpdated(
                milestone=GoalMilestone.from_model(saved[0]), goal=Goal.from_model(saved[1])
            ),
            _closed_error,
        )

    @strawberry.mutation(description="Mark a milestone reached, or reopen it.")
    async def complete_milestone(
        self,
        info: GraphQLInfo,
        input: Annotated[CompleteMilestoneInput, strawberry.argument(description="The change.")],
    ) -> CompleteMilestoneResult:
        return await mutation_result(
            lambda: goal_resolvers.complete_milestone(
                info.context, parse_id(input.id, of="GoalMilestone"), input.completed
            ),
            lambda saved: MilestoneCompleted(
                milestone=GoalMilestone.from_model(saved[0]), goal=Goal.from_model(saved[1])
            ),
            _closed_error,
        )

    @strawberry.mutation(description="Put a goal's milestones in a new order.")
    async def reorder_milestones(
        self,
        info: GraphQLInfo,
        input: Annotated[ReorderMilestonesInput, strawberry.argument(description="The change.")],
    ) -> ReorderMilestonesResult:
        return await mutation_result(
            lambda: goal_resolvers.reorder_milestones(
                info.context,
                parse_id(input.goal_id, "goalId", of="Goal"),
                [parse_id(mid, "milestoneIds", of="GoalMilestone") for mid in input.milestone_ids],
            ),
            lambda saved: MilestonesReordered(
                milestones=[GoalMilestone.from_model(row) for row in saved[0]],
                goal=Goal.from_model(saved[1]),
            ),
            _closed_error,
        )

    @strawberry.mutation(description="Delete a milestone; later milestones move up.")
    async def delete_milestone(
        self,
        info: GraphQLInfo,
        input: Annotated[DeleteMilestoneInput, strawberry.argument(description="The change.")],
    ) -> DeleteMilestoneResult:
        return await mutation_result(
            lambda: goal_resolvers.delete_milestone(
                info.context, parse_id(input.id, of="GoalMilestone")
            ),
            lambda deleted: MilestoneDeleted(
                id=format_id("GoalMilestone", deleted[0]), goal=Goal.from_model(deleted[1])
            ),
            _closed_error,
        )

    @strawberry.mutation(
        description="Record a check-in; the goal's current value follows its newest-dated "
        "check-in, in the same transaction."
    )
    async def check_in(
        self,
        info: GraphQLInfo,
        input: Annotated[CheckInInput, strawberry.argument(description="The change.")],
    ) -> CheckInResult:
        return await mutation_result(
            lambda: goal_resolvers.check_in(
                info.context,
                goal_resolvers.CheckInSpec(
                    goal_id=parse_id(input.goal_id, "goalId", of="Goal"),
                    date=input.date,
                    value=input.value,
                    note=input.note,
                    mood=input.mood.value if input.mood else None,
                    adherence=input.adherence,
                ),
            ),
            lambda result: CheckInRecorded(
                check_in=GoalCheckIn.from_model(result.check_in),
                goal=Goal.from_model(result.goal),
                replaced=result.replaced,
            ),
            _closed_error,
        )


register_node(
    "GoalMilestone", GoalMilestoneByIdLoader, lambda _info, row: GoalMilestone.from_model(row)
)
register_node("GoalCheckIn", GoalCheckInByIdLoader, lambda _info, row: GoalCheckIn.from_model(row))
register_node("Goal", GoalByIdLoader, lambda _info, row: Goal.from_model(row))


@strawberry.type
class GoalsSubscription:
    @strawberry.subscription(
        description="Check-ins as they are recorded or replaced: on one goal, or on every "
        "goal the viewer may read (the owner's, a care team's, a coach's clients')."
    )
    async def goal_checked_in(
        self,
        info: GraphQLInfo,
        goal_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this goal; default every readable goal."),
        ] = None,
    ) -> AsyncGenerator[GoalCheckIn, None]:
        goal = parse_optional_id(goal_id, "goalId", of="Goal")
        if goal is not None and await info.context.loaders.get(GoalByIdLoader).load(goal) is None:
            raise NotFound("Goal not found.")
        wanted = str(goal) if goal is not None else None
        async for row in realtime.stream(
            info.context,
            "goal_check_in",
            CheckInModel,
            None if wanted is None else ("goal_id", wanted),
        ):
            yield GoalCheckIn.from_model(row)


sql_row(
    Goal,
    GoalModel,
    ids={"id": ("Goal", "id"), "owner_id": ("User", "owner_id")},
    computed={
        "progress": lambda row: python_float(
            goal_resolvers.progress_sql(row.baseline_value, row.target_value, row.current_value)
        )
    },
)
sql_row(
    GoalCheckIn, CheckInModel, ids={"id": ("GoalCheckIn", "id"), "goal_id": ("Goal", "goal_id")}
)
