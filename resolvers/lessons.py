"""Lessons: the catalogue (filtered, keyset-paginated), modules, progress, the paywall,
and lesson and entitlement management."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, and_, bindparam, false, func, not_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from models import Entitlement, Lesson, LessonProgress, User
from models.entitlement import LESSONS_PRODUCT
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.errors import CaregraphError, FieldErrors, Forbidden, NotFound
from resolvers.core.identity import Viewer
from resolvers.core.input_checks import like_pattern
from resolvers.core.json_reads import Computed, RelatedRow, RootPage
from resolvers.core.loaders import PolicyLoader, RowByIdLoader, results_or_none
from resolvers.core.pagination import Page, SortKey, decode_cursor_for, page_size, paginate
from resolvers.core.statement_templates import AnySelect, any_of, fetch_models, fetch_rows
from resolvers.policies import readable, require, visible
from resolvers.policies.lessons import (
    active_entitlement,
    entitlement_policy,
    lesson_policy,
    lesson_progress_policy,
)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
PRODUCT_RE = re.compile(r"^[a-z0-9_]{1,50}$")
MAX_SLUG_LENGTH = 100
MAX_TITLE_LENGTH = 200
MAX_MODULE_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5000
MAX_DURATION_SEC = 86400
MAX_POSITION = 100_000
MAX_CHAPTERS = 100
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
MAX_MODULE_LESSONS = 100


class SlugTaken(CaregraphError):
    """Another lesson already uses this slug."""

    code = "SLUG_TAKEN"

    def __init__(self, slug: str) -> None:
        super().__init__(f"The slug {slug!r} is already used by another lesson.")
        self.slug = slug


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonFilter:
    module: str | None = None
    tag: str | None = None
    search: str | None = None
    published: bool | None = None


def _filtered(viewer: Viewer, lesson_filter: LessonFilter) -> Select[Lesson]:
    statement = visible(Lesson, viewer)
    if lesson_filter.module:
        statement = statement.where(Lesson.module == lesson_filter.module)
    if lesson_filter.tag:
        statement = statement.where(Lesson.tags.contains([lesson_filter.tag.strip().lower()]))
    if lesson_filter.search and lesson_filter.search.strip():
        pattern = like_pattern(lesson_filter.search.strip())
        statement = statement.where(
            or_(Lesson.title.ilike(pattern), Lesson.description.ilike(pattern))
        )
    if lesson_filter.published is not None:
        statement = statement.where(Lesson.published.is_(lesson_filter.published))
    return statement


LESSON_SORT = SortKey((Lesson.module, Lesson.position, Lesson.id))  # type: ignore[arg-type]


def lesson_rows(
    ctx: Context, lesson_filter: LessonFilter, *, first: int | None, after: str | None
) -> RootPage:
    """`list_lessons` as a source for a root field answered in SQL."""
    return RootPage(
        build=lambda viewer: _filtered(viewer, lesson_filter),
        sort=LESSON_SORT,
        first=page_size(
            first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
        ),
        after=decode_cursor_for(LESSON_SORT, after) if after is not None else None,
        key=_lessons_key(lesson_filter),
    )


def _lessons_key(lesson_filter: LessonFilter) -> object:
    # Text filters are values without bound: such lists are built per call.
    if lesson_filter.search or lesson_filter.module or lesson_filter.tag:
        return None
    return ("lessons", lesson_filter)


LOCKED = Computed(
    lambda row, viewer: not_(lesson_policy.content_predicate(viewer, row.paywall)),
    with_viewer=True,
)
"""`Lesson.locked` (`content_visible`) in SQL."""
VIEWER_PROGRESS = RelatedRow(
    lambda viewer: visible(LessonProgress, viewer).where(LessonProgress.user_id == viewer.user_id),
    LessonProgress.lesson_id,
    via="id",
)
"""`ProgressByLessonIdLoader`'s read, as a source for fields answered in SQL."""


async def list_lessons(
    ctx: Context, lesson_filter: LessonFilter, *, first: int | None, after: str | None
) -> Page[Lesson]:
    """Lessons the viewer may see, ordered by module, position (and id)."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    page = await paginate(
        ctx.db,
        ctx.viewer,
        _lessons_key(lesson_filter),
        Lesson,
        lambda viewer: _filtered(viewer, lesson_filter),
        LESSON_SORT,
        lambda lesson: (lesson.module, lesson.position, lesson.id),
        first=limit,
        after=after,
    )
    loader = ctx.loaders.get(LessonByIdLoader)
    for lesson in page.rows:
        loader.replace(lesson.id, lesson)
    return page


class LessonByIdLoader(RowByIdLoader[Lesson]):
    model = Lesson


class LessonBySlugLoader(PolicyLoader[str, Lesson | None]):
    async def batch_load_fn(self, keys: Sequence[str]) -> list[Lesson | None]:
        rows = await self.visible_where_in(Lesson, Lesson.slug, keys)
        found = {lesson.slug: lesson for lesson in rows}
        return [found.get(key) for key in keys]


async def get_lesson(
    ctx: Context, lesson_id: uuid.UUID | None = None, slug: str | None = None
) -> Lesson | None:
    if lesson_id is not None:
        return await ctx.loaders.get(LessonByIdLoader).load(lesson_id)
    if slug is not None:
        return await ctx.loaders.get(LessonBySlugLoader).load(slug.strip().lower())
    return None


class EntitledLoader(PolicyLoader[str, bool]):
    """Keyed by product: whether the viewer holds an active entitlement to it."""

    async def batch_load_fn(self, keys: Sequence[str]) -> list[bool]:
        if self.viewer.user_id is None:
            return [False for _ in keys]
        products = tuple(keys)

        def statement(viewer: Viewer) -> AnySelect:
            user_id = cast(uuid.UUID, viewer.user_id)
            return select(*[active_entitlement(user_id, product) for product in products])

        rows = await fetch_rows(self.db, (type(self), products), self.viewer, statement)
        return [bool(value) for value in rows[0]]


async def content_visible(ctx: Context, lesson: Lesson) -> bool:
    """Whether the viewer sees `video_id` and `chapters` of a lesson they can read (the
    lessons policy; the entitlement is looked up at most once per request)."""
    decided = lesson_policy.content(ctx.viewer, lesson)
    if decided is not None:
        return decided
    return await ctx.loaders.get(EntitledLoader).load(LESSONS_PRODUCT)


async def load_ahead(
    ctx: Context, lessons: Sequence[Lesson], *, progress: bool, content: bool
) -> None:
    """Loads in one round what the fields of a page of lessons will ask for, so that
    each resolves without a wait of its own: the viewer's progress on them, and whether
    the viewer is entitled to paywalled content (`content_visible`). The loaders keep
    any failure, so a field that would have failed still reports its own error."""
    waits: list[Awaitable[Any]] = []
    if progress and lessons:
        progress_loader = ctx.loaders.get(ProgressByLessonIdLoader)
        waits.append(progress_loader.load_each([lesson.id for lesson in lessons]))
    if content and any(lesson_policy.content(ctx.viewer, lesson) is None for lesson in lessons):
        waits.append(ctx.loaders.get(EntitledLoader).load(LESSONS_PRODUCT))
    await results_or_none(waits)


class ProgressByLessonIdLoader(PolicyLoader[uuid.UUID, LessonProgress | None]):
    """The viewer's own progress per lesson (null when none or when anonymous)."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[LessonProgress | None]:
        if self.viewer.user_id is None:
            return [None for _ in keys]
        rows = await fetch_models(
            self.db,
            type(self),
            self.viewer,
            LessonProgress,
            lambda viewer: visible(LessonProgress, viewer).where(
                LessonProgress.user_id == viewer.user_id, any_of(LessonProgress.lesson_id)
            ),
            keys=list(keys),
        )
        found = {row.lesson_id: row for row in rows}
        return [found.get(key) for key in keys]


@dataclass(frozen=True)
class LessonModule:
    name: str
    lesson_count: int
    completed_count: int
    total_duration_sec: int


async def list_modules(ctx: Context) -> list[LessonModule]:
    """Modules of the lessons the viewer may see, with the viewer's completed counts."""

    def statement(viewer: Viewer) -> AnySelect:
        own_progress = (
            and_(
                LessonProgress.lesson_id == Lesson.id,
                LessonProgress.user_id == viewer.user_id,
                readable(LessonProgress, viewer),
            )
            if viewer.user_id is not None
            else false()
        )
        return (
            select(
                Lesson.module,
                func.count(Lesson.id),
                func.count(LessonProgress.id).filter(LessonProgress.completed.is_(True)),
                func.coalesce(func.sum(Lesson.duration_sec), 0),
            )
            .select_from(Lesson)
            .outerjoin(LessonProgress, own_progress)
            .where(readable(Lesson, viewer))
            .group_by(Lesson.module)
            .order_by(Lesson.module)
        )

    rows = await fetch_rows(ctx.db, "lesson_modules", ctx.viewer, statement)
    return [
        LessonModule(name, int(count or 0), int(completed or 0), int(duration or 0))
        for name, count, completed, duration in rows
    ]


@dataclass(frozen=True)
class ModuleLessonsKey:
    module: str
    first: int


class LessonsByModuleLoader(PolicyLoader[ModuleLessonsKey, list[Lesson]]):
    """The first lessons of each module (by position): one windowed query per `first`."""

    async def batch_load_fn(self, keys: Sequence[ModuleLessonsKey]) -> list[list[Lesson]]:
        by_first: dict[int, set[str]] = defaultdict(set)
        for key in keys:
            by_first[key.first].add(key.module)
        grouped: dict[ModuleLessonsKey, list[Lesson]] = defaultdict(list)
        for first, modules in by_first.items():
            rows = await fetch_models(
                self.db,
                type(self),
                self.viewer,
                Lesson,
                _first_lessons_per_module,
                keys=list(modules),
                first=first,
            )
            for row in rows:
                grouped[ModuleLessonsKey(row.module, first)].append(row)
        return [grouped.get(key, []) for key in keys]


def _first_lessons_per_module(viewer: Viewer) -> AnySelect:
    ranked = (
        select(
            Lesson,
            func.row_number()
            .over(partition_by=Lesson.module, order_by=(Lesson.position, Lesson.id))
            .label("rank"),
        )
        .where(readable(Lesson, viewer), any_of(Lesson.module))
        .subquery()
    )
    lesson = aliased(Lesson, ranked)
    return (
        select(lesson)
        .where(ranked.c.rank <= bindparam("first"))
        .order_by(ranked.c.module, ranked.c.rank)
    )


# --- progress ---------------------------------------------------------------------------

PROGRESS_SORT = SortKey(
    (LessonProgress.last_watched_at, LessonProgress.id),  # type: ignore[arg-type]
    descending=True,
)


async def list_progress(
    ctx: Context, user_id: uuid.UUID | None, *, first: int | None, after: str | None
) -> Page[LessonProgress]:
    """Progress rows the viewer may read (their own; admins anyone's), most recently
    watched first, optionally of one user."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )

    def statement(viewer: Viewer) -> AnySelect:
        rows = visible(LessonProgress, viewer)
        return rows if user_id is None else rows.where(LessonProgress.user_id == user_id)

    return await paginate(
        ctx.db,
        ctx.viewer,
        "progress" if user_id is None else None,
        LessonProgress,
        statement,
        PROGRESS_SORT,
        lambda row: (row.last_watched_at, row.id),
        first=limit,
        after=after,
    )


async def save_lesson_progress(
    ctx: Context, lesson_id: uuid.UUID, position_sec: int, completed: bool | None
) -> LessonProgress:
    """Upserts the viewer's progress: position clamped to the duration, completion is
    sticky (`completed_at` is set once and never moves). Idempotent."""
    user_id = ctx.viewer.user_id
    if user_id is None:
        raise Forbidden("Sign in to save your progress.")
    require(lesson_progress_policy.can_write(ctx.viewer, user_id))
    errors = FieldErrors()
    errors.check(position_sec >= 0, "positionSec", "must be zero or more")
    errors.check(
        position_sec <= MAX_DURATION_SEC, "positionSec", f"must be at most {MAX_DURATION_SEC}"
    )
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        lesson = (
            await session.scalars(visible(Lesson, ctx.viewer).where(Lesson.id == lesson_id))
        ).one_or_none()
        if lesson is None:
            raise NotFound("Lesson not found.")
        position = (
            min(position_sec, lesson.duration_sec)
            if lesson.duration_sec is not None
            else position_sec
        )
        done = bool(completed)
        insert = pg_insert(LessonProgress).values(
            user_id=user_id,
            lesson_id=lesson_id,
            position_sec=position,
            completed=done,
            completed_at=func.now() if done else None,
            last_watched_at=func.now(),
        )
        statement = (
            insert.on_conflict_do_update(
                index_elements=[LessonProgress.user_id, LessonProgress.lesson_id],
                set_={
                    "position_sec": insert.excluded.position_sec,
                    "completed": or_(LessonProgress.completed, insert.excluded.completed),
                    "completed_at": func.coalesce(
                        LessonProgress.completed_at, insert.excluded.completed_at
                    ),
                    "last_watched_at": func.now(),
                    "updated_at": func.now(),
                },
            )
            .returning(LessonProgress)
            .execution_options(populate_existing=True)
        )
        progress = (await session.scalars(statement)).one()
    ctx.loaders.get(ProgressByLessonIdLoader).replace(lesson_id, progress)
    return progress


# --- lesson management ------------------------------------------------------------------


@dataclass(frozen=True)
class ChapterSpec:
    title: str
    start_sec: int


@dataclass(frozen=True)
class LessonChanges:
    """Lesson fields; None leaves a field unchanged (on create, takes the default)."""

    slug: str | None = None
    title: str | None = None
    description: str | None = None
    module: str | None = None
    position: int | None = None
    duration_sec: int | None = None
    video_id: str | None = None
    chapters: list[ChapterSpec] | None = None
    tags: list[str] | None = None
    paywall: bool | None = None
    published: bool | None = None
    required: tuple[str, ...] = field(default=())


def _normal_tags(tags: list[str]) -> list[str]:
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


def _validate_lesson(changes: LessonChanges, duration_sec: int | None) -> None:
    errors = FieldErrors()
    for name in changes.required:
        if getattr(changes, name) is None:
            errors.add(_camel(name), "is required")
    if changes.slug is not None:
        slug = changes.slug.strip()
        errors.check(
            bool(SLUG_RE.match(slug)),
            "slug",
            "must be lowercase letters and digits separated by single hyphens",
        )
        errors.check(len(slug) <= MAX_SLUG_LENGTH, "slug", f"at most {MAX_SLUG_LENGTH} characters")
    if changes.title is not None:
        title = changes.title.strip()
        errors.check(bool(title), "title", "must not be empty")
        errors.check(
            len(title) <= MAX_TITLE_LENGTH, "title", f"at most {MAX_TITLE_LENGTH} characters"
        )
    if changes.description is not None:
        errors.check(
            len(changes.description) <= MAX_DESCRIPTION_LENGTH,
            "description",
            f"at most {MAX_DESCRIPTION_LENGTH} characters",
        )
    if changes.module is not None:
        module = changes.module.strip()
        errors.check(bool(module), "module", "must not be empty")
        errors.check(
            len(module) <= MAX_MODULE_LENGTH, "module", f"at most {MAX_MODULE_LENGTH} characters"
        )
    if changes.position is not None:
        errors.check(
            0 <= changes.position <= MAX_POSITION, "position", f"must be 0 to {MAX_POSITION}"
        )
    if changes.duration_sec is not None:
        errors.check(
            1 <= changes.duration_sec <= MAX_DURATION_SEC,
            "durationSec",
            f"must be 1 to {MAX_DURATION_SEC} seconds",
        )
    if changes.video_id:
        errors.check(
            bool(VIDEO_ID_RE.match(changes.video_id.strip())),
            "videoId",
            "must be 1-100 letters, digits, '-' or '_'",
        )
    if changes.chapters is not None:
        errors.check(
            len(changes.chapters) <= MAX_CHAPTERS, "chapters", f"at most {MAX_CHAPTERS} chapters"
        )
        previous = -1
        for index, chapter in enumerate(changes.chapters):
            prefix = f"chapters[{index}]"
            title = chapter.title.strip()
            errors.check(
                bool(title) and len(title) <= MAX_TITLE_LENGTH,
                f"{prefix}.title",
                f"must be 1 to {MAX_TITLE_LENGTH} characters",
            )
            if chapter.start_sec < 0:
                errors.add(f"{prefix}.startSec", "must be zero or more")
            elif chapter.start_sec <= previous:
                errors.add(f"{prefix}.startSec", "must be after the previous chapter's start")
            elif chapter.start_sec >= (duration_sec or MAX_DURATION_SEC):
                errors.add(f"{prefix}.startSec", "must be before the end of the video")
            previous = max(previous, chapter.start_sec)
    if changes.tags is not None:
        errors.check(len(changes.tags) <= MAX_TAGS, "tags", f"at most {MAX_TAGS} tags")
        errors.check(
            all(0 < len(tag.strip()) <= MAX_TAG_LENGTH for tag in changes.tags),
            "tags",
            f"each tag must be 1 to {MAX_TAG_LENGTH} characters",
        )
    errors.raise_if_any()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _apply(lesson: Lesson, changes: LessonChanges) -> None:
    if changes.slug is not None:
        lesson.slug = changes.slug.strip()
    if changes.title is not None:
        lesson.title = changes.title.strip()
    if changes.description is not None:
        lesson.description = changes.description.strip()
    if changes.module is not None:
        lesson.module = changes.module.strip()
    if changes.position is not None:
        lesson.position = changes.position
    if changes.duration_sec is not None:
        lesson.duration_sec = changes.duration_sec
    if changes.video_id is not None:
        lesson.video_id = changes.video_id.strip() or None
    if changes.chapters is not None:
        lesson.chapters = [
            {"title": chapter.title.strip(), "startSec": chapter.start_sec}
            for chapter in changes.chapters
        ]
    if changes.tags is not None:
        lesson.tags = _normal_tags(changes.tags)
    if changes.paywall is not None:
        lesson.paywall = changes.paywall
    if changes.published is not None:
        lesson.published = changes.published


def _is_slug_conflict(error: IntegrityError) -> bool:
    return "uq_lessons_slug" in str(error.orig)


async def create_lesson(ctx: Context, changes: LessonChanges) -> Lesson:
    require(lesson_policy.can_write(ctx.viewer), "Only coaches and admins may create lessons.")
    changes = LessonChanges(**{**vars(changes), "required": ("slug", "title", "module")})
    _validate_lesson(changes, changes.duration_sec)
    assert changes.slug is not None
    lesson = Lesson(
        description="", position=0, chapters=[], tags=[], published=False, paywall=False
    )
    _apply(lesson, changes)
    try:
        async with ctx.db.transaction() as session:
            taken = await session.scalar(select(Lesson.id).where(Lesson.slug == lesson.slug))
            if taken is not None:
                raise SlugTaken(lesson.slug)
            if changes.position is None:  # append: after the module's last lesson
                last = await session.scalar(
                    select(func.max(Lesson.position)).where(Lesson.module == lesson.module)
                )
                lesson.position = 0 if last is None else min(last + 1, MAX_POSITION)
            session.add(lesson)
            await session.flush()
            audit.record(
                session,
                ctx,
                "lesson.create",
                "Lesson",
                lesson.id,
                after=audit.snapshot(
                    lesson, "slug", "title", "module", "position", "published", "paywall"
                ),
            )
    except IntegrityError as error:
        if _is_slug_conflict(error):
            raise SlugTaken(lesson.slug) from None
        raise
    ctx.loaders.get(LessonByIdLoader).replace(lesson.id, lesson)
    return lesson


async def _locked_lesson(ctx: Context, session: Any, lesson_id: uuid.UUID) -> Lesson:
    statement = visible(Lesson, ctx.viewer).where(Lesson.id == lesson_id).with_for_update()
    lesson = (await session.scalars(statement)).one_or_none()
    if lesson is None:
        raise NotFound("Lesson not found.")
    return lesson


async def update_lesson(ctx: Context, lesson_id: uuid.UUID, changes: LessonChanges) -> Lesson:
    require(lesson_policy.can_write(ctx.viewer), "Only coaches and admins may edit lessons.")
    _validate_lesson(changes, changes.duration_sec)
    try:
        async with ctx.db.transaction() as session:
            lesson = await _locked_lesson(ctx, session, lesson_id)
            duration = (
                changes.duration_sec if changes.duration_sec is not None else lesson.duration_sec
            )
            chapters = changes.chapters
            if chapters is None and changes.duration_sec is not None:
                chapters = [
                    ChapterSpec(str(chapter.get("title", "")), int(chapter.get("startSec", 0)))
                    for chapter in lesson.chapters
                ]
            _validate_lesson(LessonChanges(chapters=chapters), duration)
            if changes.slug is not None and changes.slug.strip() != lesson.slug:
                taken = await session.scalar(
                    select(Lesson.id).where(Lesson.slug == changes.slug.strip())
                )
                if taken is not None:
                    raise SlugTaken(changes.slug.strip())
            before = audit.snapshot(
                lesson, "slug", "title", "module", "position", "published", "paywall"
            )
            _apply(lesson, changes)
            audit.record(
                session,
                ctx,
                "lesson.update",
                "Lesson",
                lesson.id,
                before=before,
                after=audit.snapshot(
                    lesson, "slug", "title", "module", "position", "published", "paywall"
                ),
            )
            await session.flush()
    except IntegrityError as error:
        if _is_slug_conflict(error) and changes.slug is not None:
            raise SlugTaken(changes.slug.strip()) from None
        raise
    ctx.loaders.get(LessonByIdLoader).replace(lesson.id, lesson)
    return lesson


async def publish_lesson(ctx: Context, lesson_id: uuid.UUID, published: bool) -> Lesson:
    return await update_lesson(ctx, lesson_id, LessonChanges(published=published))


async def delete_lesson(ctx: Context, lesson_id: uuid.UUID) -> uuid.UUID:
    """Deletes a lesson and everyone's progress on it."""
    require(lesson_policy.can_write(ctx.viewer), "Only coaches and admins may delete lessons.")
    async with ctx.db.transaction() as session:
        lesson = await _locked_lesson(ctx, session, lesson_id)
        audit.record(
            session,
            ctx,
            "lesson.delete",
            "Lesson",
            lesson.id,
            before=audit.snapshot(
                lesson, "slug", "title", "module", "position", "published", "paywall"
            ),
        )
        await session.delete(lesson)
    ctx.loaders.get(LessonByIdLoader).clear(lesson_id)
    return lesson_id


# --- entitlements -----------------------------------------------------------------------


class EntitlementsByUserIdLoader(PolicyLoader[uuid.UUID, list[Entitlement]]):
    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[list[Entitlement]]:
        statement = (
            visible(Entitlement, self.viewer)
            .where(Entitlement.user_id.in_(keys))
            .order_by(Entitlement.created_at.desc(), Entitlement.id)
        )
        grouped: dict[uuid.UUID, list[Entitlement]] = defaultdict(list)
        async with self.db.read() as session:
            for row in (await session.scalars(statement)).all():
                grouped[row.user_id].append(row)
        return [grouped.get(key, []) for key in keys]


async def list_entitlements(ctx: Context, user_id: uuid.UUID) -> list[Entitlement]:
    return await ctx.loaders.get(EntitlementsByUserIdLoader).load(user_id)


def _validate_product(product: str) -> FieldErrors:
    errors = FieldErrors()
    errors.check(
        bool(PRODUCT_RE.match(product)), "product", "must be 1-50 lowercase letters, digits or _"
    )
    return errors


async def grant_entitlement(
    ctx: Context, user_id: uuid.UUID, product: str, valid_until: datetime | None
) -> Entitlement:
    """Admins: gives a user a product until `valid_until` (open-ended when null). An
    existing active grant is extended (or shortened) to the new end, atomically."""
    require(entitlement_policy.can_manage(ctx.viewer), "Only admins may grant entitlements.")
    product = product.strip()
    errors = _validate_product(product)
    if valid_until is not None:
        if valid_until.tzinfo is None:
            errors.add("validUntil", "must include a time zone offset")
        elif valid_until <= datetime.now(UTC):
            errors.add("validUntil", "must be in the future")
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        if await session.get(User, user_id) is None:
            raise NotFound("User not found.")
        insert = pg_insert(Entitlement).values(
            user_id=user_id,
            product=product,
            valid_until=valid_until,
            granted_by=ctx.viewer.user_id,
        )
        statement = (
            insert.on_conflict_do_update(
                index_elements=[Entitlement.user_id, Entitlement.product],
                index_where=Entitlement.revoked_at.is_(None),
                set_={
                    "valid_until": insert.excluded.valid_until,
                    "granted_by": insert.excluded.granted_by,
                    "updated_at": func.now(),
                },
            )
            .returning(Entitlement)
            .execution_options(populate_existing=True)
        )
        entitlement = (await session.scalars(statement)).one()
        audit.record(
            session,
            ctx,
            "entitlement.grant",
            "Entitlement",
            entitlement.id,
            after=audit.snapshot(entitlement, "user_id", "product", "valid_until"),
        )
    ctx.loaders.get(EntitlementsByUserIdLoader).clear(user_id)
    return entitlement


async def revoke_entitlement(ctx: Context, user_id: uuid.UUID, product: str) -> Entitlement:
    """Admins: ends a user's active grant of `product` now (the row stays as history)."""
    require(entitlement_policy.can_manage(ctx.viewer), "Only admins may revoke entitlements.")
    product = product.strip()
    _validate_product(product).raise_if_any()
    async with ctx.db.transaction() as session:
        statement = (
            update(Entitlement)
            .where(
                Entitlement.user_id == user_id,
                Entitlement.product == product,
                Entitlement.revoked_at.is_(None),
            )
            .values(revoked_at=func.now(), updated_at=func.now())
            .returning(Entitlement)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        entitlement = (await session.scalars(statement)).one_or_none()
        if entitlement is None:
            raise NotFound("This user has no active entitlement to that product.")
        audit.record(
            session,
            ctx,
            "entitlement.revoke",
            "Entitlement",
            entitlement.id,
            after=audit.snapshot(entitlement, "user_id", "product", "revoked_at"),
        )
    ctx.loaders.get(EntitlementsByUserIdLoader).clear(user_id)
    return entitlement


class LessonProgressByIdLoader(RowByIdLoader):
    model = LessonProgress


class EntitlementByIdLoader(RowByIdLoader):
    model = Entitlement
