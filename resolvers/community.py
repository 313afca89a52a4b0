"""Community: the feed (pinned first, then newest), threaded comments, likes, reports and
moderation. Counts are computed per batch in SQL, so they are exact under concurrency:
comment counts through the comments policy (never content the viewer may not see), like
counts over every like of an item the viewer may read (the likes policy's `counted`)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar, Literal, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import KeyedColumnElement

from models import Comment, CommentLike, Post, PostLike, Report, User
from resolvers import audit
from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.errors import CaregraphError, FieldErrors, Forbidden, NotFound, ValidationFailed
from resolvers.core.identity import Viewer
from resolvers.core.json_reads import AnyOf, CountOf, PageOf, RelatedRow, RootPage
from resolvers.core.loaders import PolicyLoader, RowByIdLoader, results_or_none
from resolvers.core.pagination import (
    Page,
    SortKey,
    decode_cursor_for,
    page_size,
    paginate,
)
from resolvers.core.statement_templates import AnySelect, RelatedColumns, any_of, fetch_rows
from resolvers.core.windowed_pages import counts_per_parent, pages_per_parent
from resolvers.notifications import Subject, member_role, notify, notify_each
from resolvers.policies import readable, require, visible
from resolvers.policies.community import (
    comment_like_policy,
    comment_policy,
    post_like_policy,
    post_policy,
    report_policy,
)

MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 10_000
MAX_COMMENT_LENGTH = 5_000
MAX_TAGS = 10
MAX_TAG_LENGTH = 40
MAX_REPORT_DESCRIPTION = 2_000
MAX_NESTED_PAGE = 100


class TargetType(Enum):
    POST = "post"
    COMMENT = "comment"


class ReportReason(Enum):
    SPAM = "spam"
    HARASSMENT = "harassment"
    MISINFORMATION = "misinformation"
    INAPPROPRIATE = "inappropriate"
    OTHER = "other"


class ReportStatus(Enum):
    PENDING = "pending"
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


class ReportAction(Enum):
    DISMISS = "dismiss"
    HIDE_CONTENT = "hide_content"
    DELETE_CONTENT = "delete_content"


class AlreadyReported(CaregraphError):
    """The viewer already has an open report on this item."""

    code = "ALREADY_REPORTED"


class ReportClosed(CaregraphError):
    """The report was already resolved."""

    code = "REPORT_CLOSED"


# --- authors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorProfile:
    """The public face of a user: name and avatar, never contact fields."""

    id: uuid.UUID
    display_name: str
    avatar_url: str | None


class AuthorByIdLoader(PolicyLoader[uuid.UUID, AuthorProfile | None]):
    """Public profiles (id, name, avatar; never contact fields) of users named by rows the
    viewer has already read through their policies: authors of posts and comments, the
    reporter and reviewer of a report, likers from the likes policy. This reads users
    outside the users policy (the authors rule in resolvers/policies/community.py), so
    callers pass only user ids taken from such rows."""

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[AuthorProfile | None]:
        rows = await fetch_rows(
            self.db,
            type(self),
            self.viewer,
            lambda _viewer: select(User.id, User.full_name, User.avatar_url).where(any_of(User.id)),
            keys=list(keys),
        )
        found = {row.id: AuthorProfile(row.id, row.full_name, row.avatar_url) for row in rows}
        return [found.get(key) for key in keys]


# --- posts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedFilter:
    tag: str | None = None
    author_id: uuid.UUID | None = None


FEED_SORT = SortKey((Post.pinned, Post.created_at, Post.id), descending=True)  # type: ignore[arg-type]


def _feed_statement(feed_filter: FeedFilter) -> Callable[[Viewer], AnySelect]:
    def statement(viewer: Viewer) -> AnySelect:
        posts = visible(Post, viewer)
        if feed_filter.tag and feed_filter.tag.strip():
            posts = posts.where(Post.tags.contains([feed_filter.tag.strip().lower()]))
        if feed_filter.author_id is not None:
            posts = posts.where(Post.author_id == feed_filter.author_id)
        return posts

    return statement


def _feed_key(feed_filter: FeedFilter) -> str | None:
    # A tag or an author is a value without bound: such feeds are built per call.
    return "feed" if feed_filter.author_id is None and not feed_filter.tag else None


def feed_rows(
    ctx: Context, feed_filter: FeedFilter, *, first: int | None, after: str | None
) -> RootPage:
    """`list_feed` as a source for a feed answered in SQL (schema/engine/sql_json.py)."""
    return RootPage(
        build=_feed_statement(feed_filter),
        sort=FEED_SORT,
        first=page_size(
            first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
        ),
        after=decode_cursor_for(FEED_SORT, after) if after is not None else None,
        key=_feed_key(feed_filter),
    )


async def list_feed(
    ctx: Context, feed_filter: FeedFilter, *, first: int | None, after: str | None
) -> Page[Post]:
    """Posts the viewer may read: pinned first, then newest (keyset on pinned, created_at,
    id)."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )
    page = await paginate(
        ctx.db,
        ctx.viewer,
        _feed_key(feed_filter),
        Post,
        _feed_statement(feed_filter),
        FEED_SORT,
        lambda post: (post.pinned, post.created_at, post.id),
        first=limit,
        after=after,
    )
    loader = ctx.loaders.get(PostByIdLoader)
    for post in page.rows:
        loader.replace(post.id, post)
    return page


class PostByIdLoader(RowByIdLoader[Post]):
    model = Post


class CommentByIdLoader(PolicyLoader[uuid.UUID, Comment | None]):
    """Comments by id. Rows this request read through the comments policy in a thread
    page are remembered (`remember`) and served without a statement; they enter the
    cache only when asked for, since a feed reads hundreds and asks for few by id."""

    def __init__(self, db: Database, viewer: Viewer) -> None:
        super().__init__(db, viewer)
        self._read: dict[uuid.UUID, Comment] = {}

    def remember(self, rows: Iterable[Comment]) -> None:
        """Rows just read: the newest wins over what the cache holds."""
        for row in rows:
            self._read[row.id] = row

    def load(self, key: uuid.UUID) -> asyncio.Future[Comment | None]:
        row = self._read.pop(key, None)
        if row is not None:
            super().clear(key)
            self.prime(key, row)
        return super().load(key)

    def clear(self, key: uuid.UUID) -> CommentByIdLoader:
        self._read.pop(key, None)
        return super().clear(key)

    def clear_all(self) -> CommentByIdLoader:
        self._read.clear()
        return super().clear_all()

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[Comment | None]:
        rows = await self.visible_where_in(Comment, Comment.id, keys)
        found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]


async def get_post(ctx: Context, post_id: uuid.UUID) -> Post | None:
    return await ctx.loaders.get(PostByIdLoader).load(post_id)


async def get_comment(ctx: Context, comment_id: uuid.UUID) -> Comment | None:
    return await ctx.loaders.get(CommentByIdLoader).load(comment_id)


# --- counts -----------------------------------------------------------------------------


class _CountLoader(PolicyLoader[uuid.UUID, int]):
    """Counts per parent id in one grouped query: `statement` selects (parent, count())
    under the policy; the parent ids and the GROUP BY are added by `counts_per_parent`."""

    parent: ClassVar[KeyedColumnElement[Any]]
    """The column counted by, selected first by `statement` (a table column: an ORM
    attribute would act as a descriptor on the loader)."""

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        raise NotImplementedError

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[int]:
        counts = await counts_per_parent(
            self.db, self.viewer, type(self), self.statement, self.parent, keys
        )
        return [counts[key] for key in keys]


class TopCommentCountByPostIdLoader(_CountLoader):
    parent = Comment.__table__.c.post_id

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        return select(self.parent, func.count()).where(
            readable(Comment, viewer), Comment.parent_id.is_(None)
        )


class CommentCountByPostIdLoader(_CountLoader):
    """All comments (replies included) of a post that the viewer may read."""

    parent = Comment.__table__.c.post_id

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        return select(self.parent, func.count()).where(readable(Comment, viewer))


class ReplyCountByCommentIdLoader(_CountLoader):
    parent = Comment.__table__.c.parent_id

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        return select(self.parent, func.count()).where(readable(Comment, viewer))


class LikeCountByPostIdLoader(_CountLoader):
    parent = PostLike.__table__.c.post_id

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        return select(self.parent, func.count()).where(post_like_policy.counted(viewer))


class LikeCountByCommentIdLoader(_CountLoader):
    parent = CommentLike.__table__.c.comment_id

    def statement(self, viewer: Viewer) -> Select[Any, Any]:
        return select(self.parent, func.count()).where(comment_like_policy.counted(viewer))


# --- comment threads --------------------------------------------------------------------

COMMENT_SORT = SortKey((Comment.created_at, Comment.id))  # type: ignore[arg-type]


def _comment_key(comment: Comment) -> tuple[datetime, uuid.UUID]:
    return (comment.created_at, comment.id)


@dataclass(frozen=True)
class ThreadKey:
    """A page of a thread: top-level comments of a post, or replies to a comment."""

    parent_id: uuid.UUID
    first: int
    after: str | None


class _ThreadLoader(PolicyLoader[ThreadKey, Page[Comment]]):
    """Per-parent pages with one windowed query per distinct (`first`, `after`); totals
    from `counts`, only when a page's `count` is awaited."""

    partition_name: ClassVar[str]
    count_class: ClassVar[type[_CountLoader]]

    def scope(self) -> ColumnElement[bool]:
        raise NotImplementedError

    def count(self, parent_id: Any) -> Any:
        return self.sibling(self.count_class).load(parent_id)

    async def batch_load_fn(self, keys: Sequence[ThreadKey]) -> list[Page[Comment]]:
        partition: InstrumentedAttribute[Any] = getattr(Comment, self.partition_name)
        groups: dict[tuple[int, str | None], set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            groups[(key.first, key.after)].add(key.parent_id)
        pages: dict[ThreadKey, Page[Comment]] = {}
        for (first, after), parent_ids in groups.items():
            found = await pages_per_parent(
                self.db,
                self.viewer,
                type(self),
                Comment,
                lambda viewer: visible(Comment, viewer).where(self.scope()),
                partition,
                parent_ids,
                COMMENT_SORT,
                _comment_key,
                first=first,
                after=after,
                count=self.count,
                joined=_authors_joined(self.sibling(AuthorByIdLoader)),
            )
            for parent_id, page in found.items():
                pages[ThreadKey(parent_id, first, after)] = page
        return [pages[key] for key in keys]


def _authors_joined(authors: AuthorByIdLoader) -> RelatedColumns:
    """Each comment's author profile read with the comment, into `AuthorByIdLoader`: the
    authors rule lets the viewer see the public name and avatar of the author of a row
    they may read, which is what that loader serves."""

    def join(query: AnySelect, comment: Any, _viewer: Viewer) -> AnySelect:
        return query.add_columns(
            User.id.label("author_user_id"),
            User.full_name.label("author_full_name"),
            User.avatar_url.label("author_avatar_url"),
        ).outerjoin(User, User.id == comment.author_id)

    def read(rows: Sequence[Any]) -> None:
        for row in rows:
            if row.author_id is not None:
                authors.prime(
                    row.author_id,
                    AuthorProfile(row.author_user_id, row.author_full_name, row.author_avatar_url)
                    if row.author_user_id is not None
                    else None,
                )

    return RelatedColumns(join, read)


class TopCommentsByPostIdLoader(_ThreadLoader):
    partition_name = "post_id"
    count_class = TopCommentCountByPostIdLoader

    def scope(self) -> ColumnElement[bool]:
        return Comment.parent_id.is_(None)


class RepliesByCommentIdLoader(_ThreadLoader):
    partition_name = "parent_id"
    count_class = ReplyCountByCommentIdLoader

    def scope(self) -> ColumnElement[bool]:
        return Comment.parent_id.is_not(None)


class _ViewerLikedLoader(PolicyLoader[uuid.UUID, bool]):
    """Whether the viewer likes each item (their own like rows, through the likes policy)."""

    model: ClassVar[type[PostLike] | type[CommentLike]]
    item_name: ClassVar[str]

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[bool]:
        if self.viewer.user_id is None:
            return [False for _ in keys]
        item: InstrumentedAttribute[Any] = getattr(self.model, self.item_name)
        rows = await fetch_rows(
            self.db,
            type(self),
            self.viewer,
            lambda viewer: select(item).where(
                readable(self.model, viewer), self.model.user_id == viewer.user_id, any_of(item)
            ),
            keys=list(keys),
        )
        liked = {row[0] for row in rows}
        return [key in liked for key in keys]


class ViewerLikedPostLoader(_ViewerLikedLoader):
    model = PostLike
    item_name = "post_id"


class ViewerLikedCommentLoader(_ViewerLikedLoader):
    model = CommentLike
    item_name = "comment_id"


@dataclass(frozen=True)
class LikersKey:
    item_id: uuid.UUID
    first: int


class _LikersLoader(PolicyLoader[LikersKey, list[uuid.UUID]]):
    """Who liked each item (newest first), as far as the likes policy shows: the viewer's
    own like; admins all. One windowed query per distinct `first`."""

    model: ClassVar[type[PostLike] | type[CommentLike]]
    item_name: ClassVar[str]

    async def batch_load_fn(self, keys: Sequence[LikersKey]) -> list[list[uuid.UUID]]:
        item: InstrumentedAttribute[Any] = getattr(self.model, self.item_name)
        by_first: dict[int, set[uuid.UUID]] = defaultdict(set)
        for key in keys:
            by_first[key.first].add(key.item_id)
        found: dict[LikersKey, list[uuid.UUID]] = defaultdict(list)
        async with self.db.read() as session:
            for first, item_ids in by_first.items():
                ranked = (
                    select(
                        item.label("item_id"),
                        self.model.user_id.label("user_id"),
                        func.row_number()
                        .over(
                            partition_by=item,
                            order_by=(self.model.created_at.desc(), self.model.user_id),
                        )
                        .label("rank"),
                    )
                    .where(readable(self.model, self.viewer), item.in_(item_ids))
                    .subquery()
                )
                statement = (
                    select(ranked.c.item_id, ranked.c.user_id)
                    .where(ranked.c.rank <= first)
                    .order_by(ranked.c.item_id, ranked.c.rank)
                )
                for item_id, user_id in (await session.execute(statement)).all():
                    found[LikersKey(item_id, first)].append(user_id)
        return [found.get(key, []) for key in keys]


class PostLikersLoader(_LikersLoader):
    model = PostLike
    item_name = "post_id"


class CommentLikersLoader(_LikersLoader):
    model = CommentLike
    item_name = "comment_id"


async def likers(
    ctx: Context, loader_class: type[_LikersLoader], item_id: uuid.UUID, first: int | None
) -> list[AuthorProfile]:
    size = _nested_size(first, 10)
    user_ids = await ctx.loaders.get(loader_class).load(LikersKey(item_id, size))
    profiles = await ctx.loaders.get(AuthorByIdLoader).load_each(user_ids)
    return [profile for profile in profiles if profile is not None]


def _nested_size(first: int | None, default: int) -> int:
    return page_size(first, default=default, maximum=MAX_NESTED_PAGE)


async def _thread_page(
    ctx: Context,
    loader_class: type[_ThreadLoader],
    parent_id: uuid.UUID,
    first: int,
    after: str | None,
) -> Page[Comment]:
    if after is not None:
        decode_cursor_for(COMMENT_SORT, after)  # a bad cursor is the caller's error
    page = await ctx.loaders.get(loader_class).load(ThreadKey(parent_id, first, after))
    ctx.loaders.get(CommentByIdLoader).remember(page.rows)
    return page


async def post_comments(
    ctx: Context, post_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[Comment]:
    """Top-level comments of a post, oldest first."""
    return await _thread_page(
        ctx,
        TopCommentsByPostIdLoader,
        post_id,
        _nested_size(first, TOP_COMMENTS),
        after,
    )


async def comment_replies(
    ctx: Context, comment_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[Comment]:
    """Replies to a top-level comment, oldest first."""
    return await _thread_page(
        ctx,
        RepliesByCommentIdLoader,
        comment_id,
        _nested_size(first, REPLIES),
        after,
    )


# --- the same reads, as sources of fields answered in SQL (schema/engine/sql_json.py) ----

AUTHOR = RelatedRow(lambda _viewer: select(User), User.id, via="author_id")
"""An author's public profile (the authors rule: see `AuthorByIdLoader`)."""
POST_LIKE_COUNT = CountOf(
    lambda viewer: select(PostLike).where(post_like_policy.counted(viewer)), PostLike.post_id
)
COMMENT_LIKE_COUNT = CountOf(
    lambda viewer: select(CommentLike).where(comment_like_policy.counted(viewer)),
    CommentLike.comment_id,
)
POST_COMMENT_COUNT = CountOf(
    lambda viewer: select(Comment).where(readable(Comment, viewer)), Comment.post_id
)
REPLY_COUNT = CountOf(
    lambda viewer: select(Comment).where(readable(Comment, viewer)), Comment.parent_id
)
VIEWER_LIKED_POST = AnyOf(
    lambda viewer: select(PostLike).where(
        readable(PostLike, viewer), PostLike.user_id == viewer.user_id
    ),
    PostLike.post_id,
)
VIEWER_LIKED_COMMENT = AnyOf(
    lambda viewer: select(CommentLike).where(
        readable(CommentLike, viewer), CommentLike.user_id == viewer.user_id
    ),
    CommentLike.comment_id,
)


# --- look-ahead ---------------------------------------------------------------------------


TOP_COMMENTS = 20  # a post's comments when `first` is not given
REPLIES = 10  # a comment's replies when `first` is not given


POST_COMMENTS = PageOf(
    lambda viewer: visible(Comment, viewer).where(Comment.parent_id.is_(None)),
    Comment.post_id,
    COMMENT_SORT,
    default=TOP_COMMENTS,
    maximum=MAX_NESTED_PAGE,
)
COMMENT_REPLIES = PageOf(
    lambda viewer: visible(Comment, viewer).where(Comment.parent_id.is_not(None)),
    Comment.parent_id,
    COMMENT_SORT,
    default=REPLIES,
    maximum=MAX_NESTED_PAGE,
)


@dataclass(frozen=True)
class ThreadArguments:
    """`first` and `after` of a nested comments or replies list, as the query gives them."""

    first: int | None
    after: str | None


@dataclass(frozen=True)
class CommentsAhead:
    """What the query selects on each comment of a list, for `load_ahead` (authors come
    with the thread's own statement)."""

    like_count: bool = False
    viewer_has_liked: bool = False
    replies: ThreadArguments | None = None


@dataclass(frozen=True)
class PostsAhead:
    """What the query selects on each post of a list, for `load_ahead`."""

    like_count: bool = False
    comment_count: bool = False
    viewer_has_liked: bool = False
    author: bool = False
    comments: ThreadArguments | None = None
    on_comments: CommentsAhead = CommentsAhead()


async def load_ahead(ctx: Context, posts: Sequence[Post], ahead: PostsAhead) -> None:
    """Loads, a level at a time, what the fields below a page of posts will ask for: the
    posts' counts, likes, authors and comment pages, then the same for those comments
    and their replies. Each level is one round of the same loaders (and statements) the
    fields use, so the fields then resolve without a wait each. A failure, or arguments
    the field will refuse, are left for the field to report."""
    post_ids = [post.id for post in posts]
    waits = _queue(
        ctx,
        (ahead.like_count, LikeCountByPostIdLoader, lambda: post_ids),
        (ahead.comment_count, CommentCountByPostIdLoader, lambda: post_ids),
        (ahead.viewer_has_liked, ViewerLikedPostLoader, lambda: post_ids),
        (ahead.author, AuthorByIdLoader, lambda: _authors(posts)),
    )
    comments = _threads(ctx, TopCommentsByPostIdLoader, post_ids, ahead.comments, TOP_COMMENTS)
    results = await results_or_none([*waits, comments] if comments is not None else waits)
    if comments is not None and results[-1] is not None:
        top_level = [row for page in results[-1] for row in page.rows]
        await _load_ahead_comments(ctx, top_level, ahead.on_comments)


async def _load_ahead_comments(
    ctx: Context, comments: Sequence[Comment], ahead: CommentsAhead
) -> None:
    if not comments:
        return
    comment_ids = [comment.id for comment in comments]
    waits = _queue(
        ctx,
        (ahead.like_count, LikeCountByCommentIdLoader, lambda: comment_ids),
        (ahead.viewer_has_liked, ViewerLikedCommentLoader, lambda: comment_ids),
    )
    replies = _threads(ctx, RepliesByCommentIdLoader, comment_ids, ahead.replies, REPLIES)
    await results_or_none([*waits, replies] if replies is not None else waits)


def _threads(
    ctx: Context,
    loader_class: type[_ThreadLoader],
    parent_ids: list[uuid.UUID],
    arguments: ThreadArguments | None,
    default_size: int,
) -> Awaitable[list[Page[Comment]]] | None:
    """The pages `_thread_page` will ask for, with the same keys (queued now); None when
    not selected, or when the field will refuse its `first` or `after` itself."""
    if arguments is None:
        return None
    try:
        size = _nested_size(arguments.first, default_size)
        if arguments.after is not None:
            decode_cursor_for(COMMENT_SORT, arguments.after)
    except CaregraphError:
        return None
    keys = [ThreadKey(parent_id, size, arguments.after) for parent_id in parent_ids]
    return ctx.loaders.get(loader_class).load_each(keys)


def _queue(
    ctx: Context, *wanted: tuple[bool, type[PolicyLoader[Any, Any]], Callable[[], list[Any]]]
) -> list[Awaitable[Any]]:
    """Queues the keys of each selected loader now, so they join one round."""
    queued = []
    for selected, loader_class, keys in wanted:
        if selected:
            queued.append(ctx.loaders.get(loader_class).load_each(keys()))
    return queued


def _authors(rows: Sequence[Post | Comment]) -> list[uuid.UUID]:
    return [row.author_id for row in rows if row.author_id is not None]


# --- post and comment writes ------------------------------------------------------------


def _normal_tags(tags: list[str]) -> list[str]:
    return sorted({tag.strip().lower() for tag in tags if tag.strip()})


def _check_text(errors: FieldErrors, field: str, value: str | None, maximum: int) -> None:
    if value is None:
        return
    text = value.strip()
    errors.check(bool(text), field, "must not be empty")
    errors.check(len(text) <= maximum, field, f"at most {maximum} characters")


def _check_tags(errors: FieldErrors, tags: list[str] | None) -> None:
    if tags is None:
        return
    errors.check(len(tags) <= MAX_TAGS, "tags", f"at most {MAX_TAGS} tags")
    errors.check(
        all(0 < len(tag.strip()) <= MAX_TAG_LENGTH for tag in tags),
        "tags",
        f"each tag must be 1 to {MAX_TAG_LENGTH} characters",
    )


def _signed_in(ctx: Context) -> uuid.UUID:
    if ctx.viewer.user_id is None:
        raise Forbidden("Sign in to take part in the community.")
    return ctx.viewer.user_id


async def create_post(
    ctx: Context, title: str, body: str, tags: list[str] | None, published: bool
) -> Post:
    author_id = _signed_in(ctx)
    require(post_policy.can_create(ctx.viewer))
    errors = FieldErrors()
    _check_text(errors, "title", title, MAX_TITLE_LENGTH)
    _check_text(errors, "body", body, MAX_BODY_LENGTH)
    _check_tags(errors, tags)
    errors.raise_if_any()
    post = Post(
        author_id=author_id,
        title=title.strip(),
        body=body.strip(),
        tags=_normal_tags(tags or []),
        published=published,
        pinned=False,
        hidden=False,
    )
    async with ctx.db.transaction() as session:
        session.add(post)
        await session.flush()
    ctx.loaders.get(PostByIdLoader).replace(post.id, post)
    return post


@dataclass(frozen=True)
class PostChanges:
    title: str | None = None
    body: str | None = None
    tags: list[str] | None = None
    published: bool | None = None


_RowT = TypeVar("_RowT", Post, Comment)


async def _visible_row(
    ctx: Context,
    session: AsyncSession,
    model: type[_RowT],
    row_id: uuid.UUID,
    *,
    lock: Literal["update", "share"] | None = None,
) -> _RowT:
    """The post or comment through its read policy (NOT_FOUND when the viewer may not read
    it), optionally locked for update or share-locked until the transaction ends."""
    statement = visible(model, ctx.viewer).where(model.id == row_id)
    if lock is not None:
        statement = statement.with_for_update(read=lock == "share")
    row = (await session.scalars(statement)).one_or_none()
    if row is None:
        raise NotFound(f"{model.__name__} not found.")
    return row


async def _locked_post(ctx: Context, session: AsyncSession, post_id: uuid.UUID) -> Post:
    return await _visible_row(ctx, session, Post, post_id, lock="update")


async def update_post(ctx: Context, post_id: uuid.UUID, changes: PostChanges) -> Post:
    errors = FieldErrors()
    _check_text(errors, "title", changes.title, MAX_TITLE_LENGTH)
    _check_text(errors, "body", changes.body, MAX_BODY_LENGTH)
    _check_tags(errors, changes.tags)
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        post = await _locked_post(ctx, session, post_id)
        require(post_policy.can_update(ctx.viewer, post), "Only the author may edit this post.")
        if changes.title is not None:
            post.title = changes.title.strip()
        if changes.body is not None:
            post.body = changes.body.strip()
        if changes.tags is not None:
            post.tags = _normal_tags(changes.tags)
        if changes.published is not None:
            post.published = changes.published
        await session.flush()
    ctx.loaders.get(PostByIdLoader).replace(post.id, post)
    return post


async def delete_post(ctx: Context, post_id: uuid.UUID) -> uuid.UUID:
    """Deletes a post with its comments and likes."""
    async with ctx.db.transaction() as session:
        post = await _locked_post(ctx, session, post_id)
        require(
            post_policy.can_delete(ctx.viewer, post),
            "Only the author, a coach or an admin may delete this post.",
        )
        if post.author_id != ctx.viewer.user_id:
            audit.record(
                session,
                ctx,
                "post.delete",
                "Post",
                post.id,
                before=audit.snapshot(post, "author_id", "title", "published", "hidden"),
            )
        await session.delete(post)
    ctx.loaders.get(PostByIdLoader).clear(post_id)
    return post_id


async def set_post_hidden(ctx: Context, post_id: uuid.UUID, hidden: bool) -> Post:
    require(post_policy.can_moderate(ctx.viewer), "Only coaches and admins may hide posts.")
    async with ctx.db.transaction() as session:
        post = await _locked_post(ctx, session, post_id)
        before = audit.snapshot(post, "hidden")
        await _set_hidden(session, ctx, post, hidden)
        audit.record(
            session,
            ctx,
            "post.hide" if hidden else "post.unhide",
            "Post",
            post.id,
            before=before,
            after=audit.snapshot(post, "hidden"),
        )
        await session.flush()
    ctx.loaders.get(PostByIdLoader).replace(post.id, post)
    return post


async def _set_hidden(
    session: AsyncSession, ctx: Context, row: Post | Comment, hidden: bool
) -> None:
    """Hides or shows a post or comment; its author is told when it is hidden."""
    if row.hidden == hidden:
        return
    row.hidden = hidden
    row.hidden_at = datetime.now(UTC) if hidden else None
    row.hidden_by = ctx.viewer.user_id if hidden else None
    if hidden:
        await notify(
            session,
            user_id=row.author_id,
            kind="content_hidden",
            subject=Subject("Post" if isinstance(row, Post) else "Comment", row.id),
            actor_role=member_role(ctx.viewer),
        )


async def pin_post(ctx: Context, post_id: uuid.UUID, pinned: bool) -> Post:
    require(post_policy.can_moderate(ctx.viewer), "Only coaches and admins may pin posts.")
    async with ctx.db.transaction() as session:
        post = await _locked_post(ctx, session, post_id)
        before = audit.snapshot(post, "pinned")
        post.pinned = pinned
        audit.record(
            session,
            ctx,
            "post.pin",
            "Post",
            post.id,
            before=before,
            after=audit.snapshot(post, "pinned"),
        )
        await session.flush()
    ctx.loaders.get(PostByIdLoader).replace(post.id, post)
    return post


async def _open_post(ctx: Context, session: AsyncSession, post_id: uuid.UUID, field: str) -> Post:
    """A post the viewer may read and interact with (published, not hidden), share-locked
    so it cannot be hidden or deleted until this transaction ends."""
    post = await _visible_row(ctx, session, Post, post_id, lock="share")
    if not post.published or post.hidden:
        raise ValidationFailed.single(field, "this post is not open for comments and likes")
    return post


async def _open_comment(
    ctx: Context, session: AsyncSession, comment_id: uuid.UUID, field: str
) -> Comment:
    """A comment the viewer may read that is not hidden, share-locked like `_open_post`
    (the caller opens its post)."""
    comment = await _visible_row(ctx, session, Comment, comment_id, lock="share")
    if comment.hidden:
        raise ValidationFailed.single(field, "this comment is hidden")
    return comment


async def create_comment(
    ctx: Context, post_id: uuid.UUID, parent_id: uuid.UUID | None, body: str
) -> Comment:
    """Comments on a post, or replies to a comment of the same post. A reply to a reply
    joins the thread of its top-level comment (threads are one level deep)."""
    author_id = _signed_in(ctx)
    errors = FieldErrors()
    _check_text(errors, "body", body, MAX_COMMENT_LENGTH)
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        post = await _open_post(ctx, session, post_id, "postId")
        thread_id: uuid.UUID | None = None
        parent: Comment | None = None
        if parent_id is not None:
            parent = await _open_comment(ctx, session, parent_id, "parentId")
            if parent.post_id != post_id:
                raise ValidationFailed.single("parentId", "belongs to another post")
            thread_id = parent.parent_id or parent.id
        comment = Comment(
            post_id=post_id, parent_id=thread_id, author_id=author_id, body=body.strip()
        )
        comment.hidden = False
        session.add(comment)
        await session.flush()
        # Replies: to the post's author, and to the author of the comment answered.
        await notify_each(
            session,
            [post.author_id, parent.author_id if parent is not None else None],
            except_user=author_id,
            kind="reply",
            subject=Subject("Comment", comment.id),
            actor_role=member_role(ctx.viewer),
            data={"postId": str(post_id), "toComment": parent is not None},
        )
    ctx.loaders.get(CommentByIdLoader).replace(comment.id, comment)
    return comment


async def _locked_comment(ctx: Context, session: AsyncSession, comment_id: uuid.UUID) -> Comment:
    return await _visible_row(ctx, session, Comment, comment_id, lock="update")


async def update_comment(ctx: Context, comment_id: uuid.UUID, body: str) -> Comment:
    errors = FieldErrors()
    _check_text(errors, "body", body, MAX_COMMENT_LENGTH)
    errors.raise_if_any()
    async with ctx.db.transaction() as session:
        comment = await _locked_comment(ctx, session, comment_id)
        require(
            comment_policy.can_update(ctx.viewer, comment), "Only the author may edit this comment."
        )
        comment.body = body.strip()
        await session.flush()
    ctx.loaders.get(CommentByIdLoader).replace(comment.id, comment)
    return comment


async def delete_comment(ctx: Context, comment_id: uuid.UUID) -> uuid.UUID:
    """Deletes a comment with its replies and likes."""
    async with ctx.db.transaction() as session:
        comment = await _locked_comment(ctx, session, comment_id)
        require(
            comment_policy.can_delete(ctx.viewer, comment),
            "Only the author, a coach or an admin may delete this comment.",
        )
        if comment.author_id != ctx.viewer.user_id:
            audit.record(
                session,
                ctx,
                "comment.delete",
                "Comment",
                comment.id,
                before=audit.snapshot(comment, "author_id", "post_id", "hidden"),
            )
        await session.delete(comment)
    ctx.loaders.get(CommentByIdLoader).clear(comment_id)
    return comment_id


async def set_comment_hidden(ctx: Context, comment_id: uuid.UUID, hidden: bool) -> Comment:
    require(comment_policy.can_moderate(ctx.viewer), "Only coaches and admins may hide comments.")
    async with ctx.db.transaction() as session:
        comment = await _locked_comment(ctx, session, comment_id)
        before = audit.snapshot(comment, "hidden")
        await _set_hidden(session, ctx, comment, hidden)
        audit.record(
            session,
            ctx,
            "comment.hide" if hidden else "comment.unhide",
            "Comment",
            comment.id,
            before=before,
            after=audit.snapshot(comment, "hidden"),
        )
        await session.flush()
    ctx.loaders.get(CommentByIdLoader).replace(comment.id, comment)
    return comment


# --- likes ------------------------------------------------------------------------------


async def set_post_like(ctx: Context, post_id: uuid.UUID, liked: bool) -> Post:
    """Likes or unlikes a post; idempotent (liking twice is one like)."""
    user_id = _signed_in(ctx)
    require(post_like_policy.can_write(ctx.viewer, user_id))
    async with ctx.db.transaction() as session:
        if liked:
            post = await _open_post(ctx, session, post_id, "postId")
            await session.execute(
                pg_insert(PostLike)
                .values(post_id=post_id, user_id=user_id)
                .on_conflict_do_nothing(index_elements=[PostLike.post_id, PostLike.user_id])
            )
        else:
            post = await _visible_row(ctx, session, Post, post_id)
            await session.execute(
                delete(PostLike).where(PostLike.post_id == post_id, PostLike.user_id == user_id)
            )
    ctx.loaders.get(PostByIdLoader).replace(post.id, post)
    return post


async def set_comment_like(ctx: Context, comment_id: uuid.UUID, liked: bool) -> Comment:
    """Likes or unlikes a comment; idempotent (liking twice is one like)."""
    user_id = _signed_in(ctx)
    require(comment_like_policy.can_write(ctx.viewer, user_id))
    async with ctx.db.transaction() as session:
        if liked:
            comment = await _open_comment(ctx, session, comment_id, "commentId")
            await _open_post(ctx, session, comment.post_id, "commentId")
            await session.execute(
                pg_insert(CommentLike)
                .values(comment_id=comment_id, user_id=user_id)
                .on_conflict_do_nothing(
                    index_elements=[CommentLike.comment_id, CommentLike.user_id]
                )
            )
        else:
            comment = await _visible_row(ctx, session, Comment, comment_id)
            await session.execute(
                delete(CommentLike).where(
                    CommentLike.comment_id == comment_id, CommentLike.user_id == user_id
                )
            )
    ctx.loaders.get(CommentByIdLoader).replace(comment.id, comment)
    return comment


# --- reports and moderation -------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    status: ReportStatus | None = None
    target_type: TargetType | None = None


REPORT_SORT = SortKey((Report.created_at, Report.id))  # type: ignore[arg-type]


async def list_reports(
    ctx: Context, report_filter: ReportFilter, *, first: int | None, after: str | None
) -> Page[Report]:
    """The moderation queue, oldest first (coaches and admins; others see none)."""
    limit = page_size(
        first, default=ctx.settings.default_page_size, maximum=ctx.settings.max_page_size
    )

    def statement(viewer: Viewer) -> AnySelect:
        reports = visible(Report, viewer)
        if report_filter.status is not None:
            reports = reports.where(Report.status == report_filter.status.value)
        if report_filter.target_type is not None:
            reports = reports.where(Report.target_type == report_filter.target_type.value)
        return reports

    return await paginate(
        ctx.db,
        ctx.viewer,
        ("reports", report_filter),
        Report,
        statement,
        REPORT_SORT,
        lambda report: (report.created_at, report.id),
        first=limit,
        after=after,
    )


def _is_duplicate_report(error: IntegrityError) -> bool:
    return "uq_reports_reporter_id_target_pending" in str(error.orig)


async def report_content(
    ctx: Context,
    target_type: TargetType,
    target_id: uuid.UUID,
    reason: ReportReason,
    description: str | None,
) -> Report:
    """Reports a post or comment the viewer can see; one open report per user and item."""
    reporter_id = _signed_in(ctx)
    require(report_policy.can_create(ctx.viewer))
    errors = FieldErrors()
    text = (description or "").strip()
    errors.check(
        len(text) <= MAX_REPORT_DESCRIPTION,
        "description",
        f"at most {MAX_REPORT_DESCRIPTION} characters",
    )
    errors.raise_if_any()
    model: type[Post] | type[Comment] = Post if target_type is TargetType.POST else Comment
    try:
        async with ctx.db.transaction() as session:
            target = await session.scalar(
                select(model.id).where(readable(model, ctx.viewer), model.id == target_id)
            )
            if target is None:
                raise NotFound(f"{target_type.value.title()} not found.")
            open_report = await session.scalar(
                select(Report.id).where(
                    Report.reporter_id == reporter_id,
                    Report.target_type == target_type.value,
                    Report.target_id == target_id,
                    Report.status == ReportStatus.PENDING.value,
                )
            )
            if open_report is not None:
                raise AlreadyReported("You already reported this; a moderator will review it.")
            report = Report(
                reporter_id=reporter_id,
                target_type=target_type.value,
                target_id=target_id,
                reason=reason.value,
                description=text,
                status=ReportStatus.PENDING.value,
            )
            session.add(report)
            await session.flush()
    except IntegrityError as error:
        if _is_duplicate_report(error):
            raise AlreadyReported(
                "You already reported this; a moderator will review it."
            ) from None
        raise
    return report


async def resolve_report(ctx: Context, report_id: uuid.UUID, action: ReportAction) -> Report:
    """Coaches and admins: dismiss a report, or hide or delete its content. Hiding or
    deleting also closes the other open reports on the same item."""
    require(report_policy.can_resolve(ctx.viewer), "Only coaches and admins may resolve reports.")
    async with ctx.db.transaction() as session:
        report = (
            await session.scalars(
                visible(Report, ctx.viewer).where(Report.id == report_id).with_for_update()
            )
        ).one_or_none()
        if report is None:
            raise NotFound("Report not found.")
        if report.status != ReportStatus.PENDING.value:
            raise ReportClosed(f"This report was already {report.status}.")
        # The content is acted on through its read policy, like hidePost and deletePost: a
        # row the moderator may not read (another member's draft) is left as if deleted.
        model: type[Post] | type[Comment] = Post if report.target_type == "post" else Comment
        if action is ReportAction.HIDE_CONTENT:
            target: Post | Comment | None = (
                await session.scalars(
                    visible(model, ctx.viewer)
                    .where(model.id == report.target_id)
                    .with_for_update(of=model)
                )
            ).one_or_none()
            if target is not None:
                await _set_hidden(session, ctx, target, True)
        elif action is ReportAction.DELETE_CONTENT:
            await session.execute(
                delete(model).where(model.id == report.target_id, readable(model, ctx.viewer))
            )
        status = ReportStatus.DISMISSED if action is ReportAction.DISMISS else ReportStatus.ACTIONED
        same_item = (
            Report.target_type == report.target_type,
            Report.target_id == report.target_id,
            Report.status == ReportStatus.PENDING.value,
        )
        scope = same_item if status is ReportStatus.ACTIONED else (Report.id == report.id,)
        closed = await session.execute(
            update(Report)
            .where(*scope)
            .values(
                status=status.value,
                action=action.value,
                reviewer_id=ctx.viewer.user_id,
                reviewed_at=func.now(),
                updated_at=func.now(),
            )
            .returning(Report.id, Report.reporter_id)
            .execution_options(synchronize_session=False)
        )
        # Reporters do not read reports (DESIGN.md §5): theirs tells them about the content.
        content = Subject("Post" if report.target_type == "post" else "Comment", report.target_id)
        for _closed_id, reporter_id in closed.all():
            await notify(
                session,
                user_id=reporter_id,
                kind="report_resolved",
                subject=content,
                actor_role=member_role(ctx.viewer),
                data={"action": action.value, "status": status.value},
            )
        audit.record(
            session,
            ctx,
            "report.resolve",
            "Report",
            report.id,
            before={"status": "pending"},
            after={
                "status": status.value,
                "action": action.value,
                "target_type": report.target_type,
                "target_id": report.target_id,
            },
        )
        await session.flush()
        await session.refresh(report)
    return report


class ReportByIdLoader(RowByIdLoader):
    model = Report
