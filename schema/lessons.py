"""Video lessons: catalogue, modules, the viewer's progress, the paywall, management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from models import Entitlement as EntitlementModel
from models import Lesson as LessonModel
from models import LessonProgress as LessonProgressModel
from models.entitlement import LESSONS_PRODUCT
from resolvers import lessons as lesson_resolvers
from resolvers.core.errors import BadUserInput, CaregraphError
from resolvers.lessons import EntitlementByIdLoader, LessonByIdLoader, LessonProgressByIdLoader
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo, selects
from schema.engine.sql_json import sql_field, sql_root, sql_row
from schema.ids import format_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    UserError,
    ValidationError,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node


@strawberry.type(description="A chapter marker inside a lesson's video.")
class Chapter:
    title: str = strawberry.field(description="Chapter title.")
    start_sec: int = strawberry.field(description="Where the chapter starts, in seconds.")


@strawberry.type(description="The viewer's progress in one lesson.")
class LessonProgress(Node):
    id: strawberry.ID = strawberry.field(description="Progress id.")
    lesson_id: strawberry.ID = strawberry.field(description="The lesson.")
    user_id: strawberry.ID = strawberry.field(description="Whose progress this is.")
    position_sec: int = strawberry.field(
        description="Last playback position in seconds (never past the duration)."
    )
    completed: bool = strawberry.field(description="Finished; stays true once set.")
    completed_at: datetime | None = strawberry.field(
        description="When first completed; never moves once set."
    )
    last_watched_at: datetime = strawberry.field(description="When progress was last saved.")
    row: strawberry.Private[LessonProgressModel]

    @classmethod
    def from_model(cls, row: LessonProgressModel) -> LessonProgress:
        return cls(
            row=row,
            id=format_id("LessonProgress", row.id),
            lesson_id=format_id("Lesson", row.lesson_id),
            user_id=format_id("User", row.user_id),
            position_sec=row.position_sec,
            completed=row.completed,
            completed_at=row.completed_at,
            last_watched_at=row.last_watched_at,
        )

    @strawberry.field(description="The lesson, when visible to the viewer.")
    async def lesson(self, info: GraphQLInfo) -> Lesson | None:
        row = await info.context.loaders.get(lesson_resolvers.LessonByIdLoader).load(
            self.row.lesson_id
        )
        return Lesson.from_model(row) if row is not None else None


@strawberry.type(
    description="A video lesson. Everyone who may see a lesson sees its metadata; the "
    "`videoId` and `chapters` of a paywalled lesson are null unless the viewer is a coach, "
    "an admin or holds an active `lessons` entitlement."
)
class Lesson(Node):
    id: strawberry.ID = strawberry.field(description="Lesson id.")
    slug: str = strawberry.field(description="URL slug, unique (lowercase, digits, hyphens).")
    title: str = strawberry.field(description="Title.")
    description: str = strawberry.field(description="Description.")
    module: str = strawberry.field(description="Course module the lesson belongs to.")
    position: int = strawberry.field(description="Order inside the module.")
    duration_sec: int | None = strawberry.field(description="Video length in seconds.")
    tags: list[str] = strawberry.field(description="Category tags (lowercase).")
    published: bool = strawberry.field(
        description="Published lessons are public; others exist only for coaches and admins."
    )
    paywall: bool = strawberry.field(description="Video and chapters need an entitlement.")
    created_at: datetime = strawberry.field(description="When the lesson was created.")
    updated_at: datetime = strawberry.field(description="When the lesson last changed.")
    row: strawberry.Private[LessonModel]

    @classmethod
    def from_model(cls, row: LessonModel) -> Lesson:
        return cls(
            id=format_id("Lesson", row.id),
            slug=row.slug,
            title=row.title,
            description=row.description,
            module=row.module,
            position=row.position,
            duration_sec=row.duration_sec,
            tags=list(row.tags),
            published=row.published,
            paywall=row.paywall,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Video id (e.g. YouTube); null for a paywalled lesson the viewer is not "
        "entitled to."
    )
    async def video_id(self, info: GraphQLInfo) -> str | None:
        if await lesson_resolvers.content_visible(info.context, self.row):
            return self.row.video_id
        return None

    @strawberry.field(
        description="Chapter markers; null for a paywalled lesson the viewer is not entitled to."
    )
    async def chapters(self, info: GraphQLInfo) -> list[Chapter] | None:
        if not await lesson_resolvers.content_visible(info.context, self.row):
            return None
        return [_chapter(item) for item in self.row.chapters]

    @strawberry.field(
        description="True when the paywall hides `videoId` and `chapters` from the viewer.",
        metadata=sql_field(lesson_resolvers.LOCKED),
    )
    async def locked(self, info: GraphQLInfo) -> bool:
        return not await lesson_resolvers.content_visible(info.context, self.row)

    @strawberry.field(
        description="The viewer's own progress; null when none or anonymous.",
        metadata=sql_field(lesson_resolvers.VIEWER_PROGRESS),
    )
    async def viewer_progress(self, info: GraphQLInfo) -> LessonProgress | None:
        row = await info.context.loaders.get(lesson_resolvers.ProgressByLessonIdLoader).load(
            self.row.id
        )
        return LessonProgress.from_model(row) if row is not None else None


def _chapter(item: Any) -> Chapter:
    return Chapter(title=str(item.get("title", "")), start_sec=int(item.get("startSec", 0)))


@strawberry.type(description="A course module: its lessons and the viewer's completion.")
class LessonModule:
    name: str = strawberry.field(description="Module name.")
    lesson_count: int = strawberry.field(description="Lessons in the module visible to you.")
    completed_count: int = strawberry.field(description="Of those, how many you completed.")
    total_duration_sec: int = strawberry.field(description="Sum of the lessons' durations.")

    @strawberry.field(description="Your completion of the module, 0 to 100 percent.")
    def completion_percent(self) -> float:
        if self.lesson_count == 0:
            return 0.0
        return round(100.0 * self.completed_count / self.lesson_count, 1)

    @strawberry.field(description="The module's lessons by position (`first` at most 100).")
    async def lessons(
        self,
        info: GraphQLInfo,
        first: Annotated[int, strawberry.argument(description="How many, 0-100.")] = 100,
    ) -> list[Lesson]:
        if not 0 <= first <= lesson_resolvers.MAX_MODULE_LESSONS:
            raise BadUserInput(f"`first` must be 0 to {lesson_resolvers.MAX_MODULE_LESSONS}.")
        rows = await info.context.loaders.get(lesson_resolvers.LessonsByModuleLoader).load(
            lesson_resolvers.ModuleLessonsKey(self.name, first)
        )
        return [Lesson.from_model(row) for row in rows]


@strawberry.type(description="A user's right to a product, e.g. `lessons` (paywalled videos).")
class Entitlement(Node):
    id: strawberry.ID = strawberry.field(description="Entitlement id.")
    user_id: strawberry.ID = strawberry.field(description="The entitled user.")
    product: str = strawberry.field(description="Product key; `lessons` unlocks paywalled videos.")
    valid_until: datetime | None = strawberry.field(description="End; null means open-ended.")
    revoked_at: datetime | None = strawberry.field(description="When an admin revoked it.")
    created_at: datetime = strawberry.field(description="When it was first granted.")

    @strawberry.field(description="Not revoked and not expired.")
    def active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.valid_until is None or self.valid_until > datetime.now(self.valid_until.tzinfo)

    @classmethod
    def from_model(cls, row: EntitlementModel) -> Entitlement:
        return cls(
            id=format_id("Entitlement", row.id),
            user_id=format_id("User", row.user_id),
            product=row.product,
            valid_until=row.valid_until,
            revoked_at=row.revoked_at,
            created_at=row.created_at,
        )


@strawberry.input(description="Narrow the lesson list; all given conditions must hold.")
class LessonFilter:
    module: str | None = strawberry.field(default=None, description="In this module.")
    tag: str | None = strawberry.field(default=None, description="Has this tag.")
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive text in the title or description."
    )
    published: bool | None = strawberry.field(
        default=None, description="Published or not (others only ever see published ones)."
    )


def _lesson_filter(conditions: LessonFilter | None) -> lesson_resolvers.LessonFilter:
    conditions = conditions or LessonFilter()
    return lesson_resolvers.LessonFilter(
        module=conditions.module,
        tag=conditions.tag,
        search=conditions.search,
        published=conditions.published,
    )


@strawberry.type
class LessonsQuery:
    @strawberry.field(
        description="Lessons visible to you, ordered by module and position, keyset-paginated "
        "(`first` defaults to 20, max 100).",
        metadata=sql_root(
            lambda ctx, first=None, after=None, filter=None: lesson_resolvers.lesson_rows(
                ctx, _lesson_filter(filter), first=first, after=after
            ),
            sort=lesson_resolvers.LESSON_SORT,
        ),
    )
    async def lessons(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[
            LessonFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
    ) -> Connection[Lesson]:
        page = await lesson_resolvers.list_lessons(
            info.context, _lesson_filter(filter), first=first, after=after
        )
        await lesson_resolvers.load_ahead(
            info.context,
            page.rows,
            progress=selects(info, "edges", "node", "viewerProgress"),
            content=any(
                selects(info, "edges", "node", field) for field in ("locked", "videoId", "chapters")
            ),
        )
        return connection_from_page(page, Lesson.from_model)

    @strawberry.field(
        description="A lesson by `id` or by `slug` (give exactly one); null when absent or "
        "not visible."
    )
    async def lesson(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Lesson id.")] = None,
        slug: Annotated[str | None, strawberry.argument(description="Lesson slug.")] = None,
    ) -> Lesson | None:
        if (id is None) == (slug is None):
            raise BadUserInput("Pass exactly one of `id` and `slug`.")
        row = await lesson_resolvers.get_lesson(
            info.context, lesson_id=parse_optional_id(id, of="Lesson"), slug=slug
        )
        return Lesson.from_model(row) if row is not None else None

    @strawberry.field(
        description="Course modules (by name) with lesson counts and your completion."
    )
    async def lesson_modules(self, info: GraphQLInfo) -> list[LessonModule]:
        modules = await lesson_resolvers.list_modules(info.context)
        return [
            LessonModule(
                name=module.name,
                lesson_count=module.lesson_count,
                completed_count=module.completed_count,
                total_duration_sec=module.total_duration_sec,
            )
            for module in modules
        ]

    @strawberry.field(
        description="Lesson progress, most recently watched first: your own; admins see "
        "anyone's (filter with `userId`). Others' progress is never listed to non-admins."
    )
    async def lesson_progress(
        self,
        info: GraphQLInfo,
        user_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this user's progress.")
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[LessonProgress]:
        page = await lesson_resolvers.list_progress(
            info.context,
            parse_optional_id(user_id, "userId", of="User"),
            first=first,
            after=after,
        )
        return connection_from_page(page, LessonProgress.from_model)

    @strawberry.field(
        description="Entitlements of a user (default: you), newest first, revoked ones "
        "included. Users see their own; admins anyone's."
    )
    async def entitlements(
        self,
        info: GraphQLInfo,
        user_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The user (default: you).")
        ] = None,
    ) -> list[Entitlement]:
        target = (
            parse_id(user_id, "userId", of="User")
            if user_id is not None
            else info.context.viewer.user_id
        )
        if target is None:
            return []
        rows = await lesson_resolvers.list_entitlements(info.context, target)
        return [Entitlement.from_model(row) for row in rows]


# --- mutations --------------------------------------------------------------------------


@strawberry.type(description="Another lesson already uses this slug. Nothing was written.")
class SlugTaken(UserError):
    slug: str = strawberry.field(description="The slug that is taken.")


@strawberry.input(description="Save your progress in a lesson.")
class SaveLessonProgressInput:
    lesson_id: strawberry.ID = strawberry.field(description="The lesson.")
    position_sec: int = strawberry.field(
        description="Playback position in seconds; clamped to the lesson's duration."
    )
    completed: bool | None = strawberry.field(
        default=None,
        description="Mark the lesson completed. Completion is permanent: false or null "
        "never un-completes it.",
    )


@strawberry.type(description="Your progress was saved.")
class LessonProgressSaved:
    progress: LessonProgress = strawberry.field(description="Your progress now.")


SaveLessonProgressResult = Annotated[
    LessonProgressSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("SaveLessonProgressResult", description="Result of saveLessonProgress."),
]


@strawberry.input(description="A chapter marker.")
class ChapterInput:
    title: str = strawberry.field(description="Title, 1-200 characters.")
    start_sec: int = strawberry.field(
        description="Start in seconds; increasing, before the end of the video."
    )


@strawberry.input(description="A new lesson (unpublished unless `published` is true).")
class CreateLessonInput:
    slug: str = strawberry.field(description="Unique slug: lowercase letters, digits, hyphens.")
    title: str = strawberry.field(description="Title, 1-200 characters.")
    module: str = strawberry.field(description="Module name, 1-100 characters.")
    description: str | None = strawberry.field(
        default=None, description="Description, up to 5000 characters."
    )
    position: int | None = strawberry.field(
        default=None,
        description="Order in the module (lower first); omitted: after the module's last lesson.",
    )
    duration_sec: int | None = strawberry.field(default=None, description="Video length, 1-86400.")
    video_id: str | None = strawberry.field(default=None, description="Video id, e.g. YouTube.")
    chapters: list[ChapterInput] | None = strawberry.field(
        default=None, description="Chapter markers."
    )
    tags: list[str] | None = strawberry.field(default=None, description="Up to 20 tags.")
    paywall: bool | None = strawberry.field(default=None, description="Needs an entitlement.")
    published: bool | None = strawberry.field(default=None, description="Publish right away.")


@strawberry.input(description="Lesson changes; omitted (null) fields are left as they are.")
class UpdateLessonInput:
    id: strawberry.ID = strawberry.field(description="The lesson.")
    slug: str | None = strawberry.field(default=None, description="New unique slug.")
    title: str | None = strawberry.field(default=None, description="Title, 1-200 characters.")
    module: str | None = strawberry.field(default=None, description="Module name.")
    description: str | None = strawberry.field(default=None, description="Description.")
    position: int | None = strawberry.field(default=None, description="Order in the module.")
    duration_sec: int | None = strawberry.field(default=None, description="Video length, 1-86400.")
    video_id: str | None = strawberry.field(
        default=None, description="Video id; empty string clears it."
    )
    chapters: list[ChapterInput] | None = strawberry.field(
        default=None, description="Replaces all chapter markers."
    )
    tags: list[str] | None = strawberry.field(default=None, description="Replaces the tags.")
    paywall: bool | None = strawberry.field(default=None, description="Needs an entitlement.")


@strawberry.input(description="Publish or unpublish a lesson.")
class PublishLessonInput:
    id: strawberry.ID = strawberry.field(description="The lesson.")
    published: bool = strawberry.field(default=True, description="New state.")


@strawberry.input(description="Delete a lesson (and everyone's progress on it).")
class DeleteLessonInput:
    id: strawberry.ID = strawberry.field(description="The lesson.")


@strawberry.type(description="The lesson was saved.")
class LessonSaved:
    lesson: Lesson = strawberry.field(description="The lesson now.")


@strawberry.type(description="The lesson was deleted.")
class LessonDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Id of the deleted lesson.")


LessonWriteResult = Annotated[
    LessonSaved | SlugTaken | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "LessonWriteResult", description="Result of createLesson, updateLesson, publishLesson."
    ),
]
DeleteLessonResult = Annotated[
    LessonDeleted | NotAllowed | NotFoundError | ValidationError,
    strawberry.union("DeleteLessonResult", description="Result of deleteLesson."),
]


@strawberry.input(description="Give a user a product (admins).")
class GrantEntitlementInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    product: str = strawberry.field(
        default=LESSONS_PRODUCT, description="Product key; `lessons` unlocks paywalled videos."
    )
    valid_until: datetime | None = strawberry.field(
        default=None,
        description="End (with offset, in the future); null is open-ended. Re-granting an "
        "active product sets its new end.",
    )


@strawberry.input(description="End a user's active grant of a product now (admins).")
class RevokeEntitlementInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    product: str = strawberry.field(default=LESSONS_PRODUCT, description="Product key.")


@strawberry.type(description="The entitlement was granted, changed or revoked.")
class EntitlementSaved:
    entitlement: Entitlement = strawberry.field(description="The entitlement now.")


EntitlementResult = Annotated[
    EntitlementSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "EntitlementResult", description="Result of grantEntitlement and revokeEntitlement."
    ),
]


def _chapters(items: list[ChapterInput] | None) -> list[lesson_resolvers.ChapterSpec] | None:
    if items is None:
        return None
    return [lesson_resolvers.ChapterSpec(item.title, item.start_sec) for item in items]


def _lesson_error(
    error: CaregraphError,
) -> SlugTaken | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, lesson_resolvers.SlugTaken):
        return SlugTaken(message=error.message, code=error.code, slug=error.slug)
    return user_error(error)


def _lesson_saved(row: LessonModel) -> LessonSaved:
    return LessonSaved(lesson=Lesson.from_model(row))


def _entitlement_saved(row: EntitlementModel) -> EntitlementSaved:
    return EntitlementSaved(entitlement=Entitlement.from_model(row))


@strawberry.type
class LessonsMutation:
    @strawberry.mutation(
        description="Save your playback position (and completion) in a lesson. Idempotent."
    )
    async def save_lesson_progress(
        self,
        info: GraphQLInfo,
        input: Annotated[SaveLessonProgressInput, strawberry.argument(description="The input.")],
    ) -> SaveLessonProgressResult:
        return await mutation_result(
            lambda: lesson_resolvers.save_lesson_progress(
                info.context,
                parse_id(input.lesson_id, "lessonId", of="Lesson"),
                input.position_sec,
                input.completed,
            ),
            lambda row: LessonProgressSaved(progress=LessonProgress.from_model(row)),
        )

    @strawberry.mutation(description="Coaches and admins: create a lesson.")
    async def create_lesson(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateLessonInput, strawberry.argument(description="The input.")],
    ) -> LessonWriteResult:
        return await mutation_result(
            lambda: lesson_resolvers.create_lesson(
                info.context,
                lesson_resolvers.LessonChanges(
                    slug=input.slug,
                    title=input.title,
                    module=input.module,
                    description=input.description,
                    position=input.position,
                    duration_sec=input.duration_sec,
                    video_id=input.video_id,
                    chapters=_chapters(input.chapters),
                    tags=input.tags,
                    paywall=input.paywall,
                    published=input.published,
                ),
            ),
            _lesson_saved,
            _lesson_error,
        )

    @strawberry.mutation(description="Coaches and admins: change a lesson.")
    async def update_lesson(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateLessonInput, strawberry.argument(description="The input.")],
    ) -> LessonWriteResult:
        return await mutation_result(
            lambda: lesson_resolvers.update_lesson(
                info.context,
                parse_id(input.id, of="Lesson"),
                lesson_resolvers.LessonChanges(
                    slug=input.slug,
                    title=input.title,
                    module=input.module,
                    description=input.description,
                    position=input.position,
                    duration_sec=input.duration_sec,
                    video_id=input.video_id,
                    chapters=_chapters(input.chapters),
                    tags=input.tags,
                    paywall=input.paywall,
                ),
            ),
            _lesson_saved,
            _lesson_error,
        )

    @strawberry.mutation(description="Coaches and admins: publish or unpublish a lesson.")
    async def publish_lesson(
        self,
        info: GraphQLInfo,
        input: Annotated[PublishLessonInput, strawberry.argument(description="The input.")],
    ) -> LessonWriteResult:
        return await mutation_result(
            lambda: lesson_resolvers.publish_lesson(
                info.context, parse_id(input.id, of="Lesson"), input.published
            ),
            _lesson_saved,
            _lesson_error,
        )

    @strawberry.mutation(description="Coaches and admins: delete a lesson.")
    async def delete_lesson(
        self,
        info: GraphQLInfo,
        input: Annotated[DeleteLessonInput, strawberry.argument(description="The input.")],
    ) -> DeleteLessonResult:
        return await mutation_result(
            lambda: lesson_resolvers.delete_lesson(info.context, parse_id(input.id, of="Lesson")),
            lambda deleted: LessonDeleted(deleted_id=format_id("Lesson", deleted)),
        )

    @strawberry.mutation(description="Admins: grant (or extend) a user's entitlement.")
    async def grant_entitlement(
        self,
        info: GraphQLInfo,
        input: Annotated[GrantEntitlementInput, strawberry.argument(description="The input.")],
    ) -> EntitlementResult:
        return await mutation_result(
            lambda: lesson_resolvers.grant_entitlement(
                info.context,
                parse_id(input.user_id, "userId", of="User"),
                input.product,
                input.valid_until,
            ),
            _entitlement_saved,
        )

    @strawberry.mutation(description="Admins: revoke a user's active entitlement.")
    async def revoke_entitlement(
        self,
        info: GraphQLInfo,
        input: Annotated[RevokeEntitlementInput, strawberry.argument(description="The input.")],
    ) -> EntitlementResult:
        return await mutation_result(
            lambda: lesson_resolvers.revoke_entitlement(
                info.context, parse_id(input.user_id, "userId", of="User"), input.product
            ),
            _entitlement_saved,
        )


register_node(
    "LessonProgress", LessonProgressByIdLoader, lambda _info, row: LessonProgress.from_model(row)
)
register_node("Lesson", LessonByIdLoader, lambda _info, row: Lesson.from_model(row))
register_node("Entitlement", EntitlementByIdLoader, lambda _info, row: Entitlement.from_model(row))

sql_row(Lesson, LessonModel, ids={"id": ("Lesson", "id")})
sql_row(
    LessonProgress,
    LessonProgressModel,
    ids={
        "id": ("LessonProgress", "id"),
        "lesson_id": ("Lesson", "lesson_id"),
        "user_id": ("User", "user_id"),
    },
)
