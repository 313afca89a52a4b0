"""Community: feed, posts, threaded comments, likes, reports and moderation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from models import Comment as CommentModel
from models import Post as PostModel
from models import Report as ReportModel
from models import User as UserModel
from resolvers import community as community_resolvers
from resolvers.community import CommentByIdLoader, PostByIdLoader, ReportByIdLoader
from resolvers.core import realtime
from resolvers.core.errors import CaregraphError, NotFound
from schema.connections import After, Connection, First, connection_from_page
from schema.engine.look_ahead import GraphQLInfo, selected_arguments, selects
from schema.engine.sql_json import sql_field, sql_root, sql_row
from schema.engine.subscription_events import SAME_FOR_EVERY_READER
from schema.enums import ReportAction, ReportReason, ReportStatus, ReportTargetType
from schema.ids import format_id, format_optional_id, parse_id, parse_optional_id
from schema.mutation_results import (
    NotAllowed,
    NotFoundError,
    UserError,
    ValidationError,
    mutation_result,
    user_error,
)
from schema.node import Node, register_node


@strawberry.type(description="The public face of a member: name and avatar only.")
class Author:
    id: strawberry.ID = strawberry.field(description="User id.")
    display_name: str = strawberry.field(description="Name shown in the community.")
    avatar_url: str | None = strawberry.field(description="Avatar image URL.")

    @classmethod
    def from_profile(cls, profile: community_resolvers.AuthorProfile) -> Author:
        return cls(
            id=format_id("Author", profile.id),
            display_name=profile.display_name,
            avatar_url=profile.avatar_url,
        )


async def _author(info: GraphQLInfo, user_id: uuid.UUID | None) -> Author | None:
    if user_id is None:
        return None
    profile = await info.context.loaders.get(community_resolvers.AuthorByIdLoader).load(user_id)
    return Author.from_profile(profile) if profile is not None else None


def _thread_arguments(info: GraphQLInfo, *path: str) -> community_resolvers.ThreadArguments | None:
    """The arguments of the nested list at `path` when the query selects it once."""
    selected = selected_arguments(info, *path)
    if len(selected) != 1:
        return None
    first, after = selected[0].get("first"), selected[0].get("after")
    if not (first is None or isinstance(first, int)) or not (
        after is None or isinstance(after, str)
    ):
        return None
    return community_resolvers.ThreadArguments(first, after)


def posts_ahead(info: GraphQLInfo) -> community_resolvers.PostsAhead:
    """What to load ahead for a connection of posts (`community_resolvers.load_ahead`)."""
    post = ("edges", "node")
    comment = (*post, "comments", "edges", "node")
    return community_resolvers.PostsAhead(
        like_count=selects(info, *post, "likeCount"),
        comment_count=selects(info, *post, "commentCount"),
        viewer_has_liked=selects(info, *post, "viewerHasLiked"),
        author=selects(info, *post, "author"),
        comments=_thread_arguments(info, *post, "comments"),
        on_comments=community_resolvers.CommentsAhead(
            like_count=selects(info, *comment, "likeCount"),
            viewer_has_liked=selects(info, *comment, "viewerHasLiked"),
            replies=_thread_arguments(info, *comment, "replies"),
        ),
    )


@strawberry.type(description="A community post. Counts include only comments the viewer may see.")
class Post(Node):
    id: strawberry.ID = strawberry.field(description="Post id.")
    title: str = strawberry.field(description="Title, 1-200 characters.")
    body: str = strawberry.field(description="Body, 1-10000 characters.")
    tags: list[str] = strawberry.field(description="Tags (lowercase).")
    published: bool = strawberry.field(description="False for drafts (author and moderators).")
    pinned: bool = strawberry.field(description="Pinned posts lead the feed.")
    hidden: bool = strawberry.field(
        description="Hidden by moderation; only coaches and admins see hidden posts."
    )
    created_at: datetime = strawberry.field(description="When the post was written.")
    updated_at: datetime = strawberry.field(description="When the post last changed.")
    row: strawberry.Private[PostModel]

    @classmethod
    def from_model(cls, row: PostModel) -> Post:
        return cls(
            id=format_id("Post", row.id),
            title=row.title,
            body=row.body,
            tags=list(row.tags),
            published=row.published,
            pinned=row.pinned,
            hidden=row.hidden,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Who wrote it (public name and avatar).",
        metadata={**SAME_FOR_EVERY_READER, **sql_field(community_resolvers.AUTHOR)},
    )
    async def author(self, info: GraphQLInfo) -> Author | None:
        return await _author(info, self.row.author_id)

    @strawberry.field(
        description="Top-level comments, oldest first (`first` default 20, max 100).",
        metadata=sql_field(community_resolvers.POST_COMMENTS),
    )
    async def comments(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
    ) -> Connection[Comment]:
        page = await community_resolvers.post_comments(
            info.context, self.row.id, first=first, after=after
        )
        return connection_from_page(page, Comment.from_model)

    @strawberry.field(
        description="Number of likes.", metadata=sql_field(community_resolvers.POST_LIKE_COUNT)
    )
    async def like_count(self, info: GraphQLInfo) -> int:
        return await info.context.loaders.get(community_resolvers.LikeCountByPostIdLoader).load(
            self.row.id
        )

    @strawberry.field(
        description="Comments and replies on this post that you may see.",
        metadata=sql_field(community_resolvers.POST_COMMENT_COUNT),
    )
    async def comment_count(self, info: GraphQLInfo) -> int:
        return await info.context.loaders.get(community_resolvers.CommentCountByPostIdLoader).load(
            self.row.id
        )

    @strawberry.field(
        description="Who liked this post, newest first, as the likes policy allows: your "
        "own like; admins see everyone's (`first` default 10, max 100)."
    )
    async def liked_by(
        self,
        info: GraphQLInfo,
        first: Annotated[int | None, strawberry.argument(description="How many.")] = None,
    ) -> list[Author]:
        profiles = await community_resolvers.likers(
            info.context, community_resolvers.PostLikersLoader, self.row.id, first
        )
        return [Author.from_profile(profile) for profile in profiles]

    @strawberry.field(
        description="Whether you like this post.",
        metadata=sql_field(community_resolvers.VIEWER_LIKED_POST),
    )
    async def viewer_has_liked(self, info: GraphQLInfo) -> bool:
        return await info.context.loaders.get(community_resolvers.ViewerLikedPostLoader).load(
            self.row.id
        )


@strawberry.type(description="A comment on a post: top level, or a reply to a top-level comment.")
class Comment(Node):
    id: strawberry.ID = strawberry.field(description="Comment id.")
    post_id: strawberry.ID = strawberry.field(description="The post it belongs to.")
    parent_id: strawberry.ID | None = strawberry.field(
        description="The top-level comment this replies to; null for top-level comments."
    )
    body: str = strawberry.field(description="Text, 1-5000 characters.")
    hidden: bool = strawberry.field(
        description="Hidden by moderation; only coaches and admins see hidden comments."
    )
    created_at: datetime = strawberry.field(description="When it was written.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    row: strawberry.Private[CommentModel]

    @classmethod
    def from_model(cls, row: CommentModel) -> Comment:
        return cls(
            id=format_id("Comment", row.id),
            post_id=format_id("Post", row.post_id),
            parent_id=format_optional_id("Comment", row.parent_id),
            body=row.body,
            hidden=row.hidden,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Who wrote it (public name and avatar).",
        metadata={**SAME_FOR_EVERY_READER, **sql_field(community_resolvers.AUTHOR)},
    )
    async def author(self, info: GraphQLInfo) -> Author | None:
        return await _author(info, self.row.author_id)

    @strawberry.field(description="The post, when visible to you.")
    async def post(self, info: GraphQLInfo) -> Post | None:
        row = await community_resolvers.get_post(info.context, self.row.post_id)
        return Post.from_model(row) if row is not None else None

    @strawberry.field(
        description="Replies, oldest first (`first` default 10, max 100).",
        metadata=sql_field(community_resolvers.COMMENT_REPLIES),
    )
    async def replies(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
    ) -> Connection[Comment]:
        page = await community_resolvers.comment_replies(
            info.context, self.row.id, first=first, after=after
        )
        return connection_from_page(page, Comment.from_model)

    @strawberry.field(
        description="Number of likes.", metadata=sql_field(community_resolvers.COMMENT_LIKE_COUNT)
    )
    async def like_count(self, info: GraphQLInfo) -> int:
        return await info.context.loaders.get(community_resolvers.LikeCountByCommentIdLoader).load(
            self.row.id
        )

    @strawberry.field(
        description="Who liked this comment, newest first, as the likes policy allows: your "
        "own like; admins see everyone's (`first` default 10, max 100)."
    )
    async def liked_by(
        self,
        info: GraphQLInfo,
        first: Annotated[int | None, strawberry.argument(description="How many.")] = None,
    ) -> list[Author]:
        profiles = await community_resolvers.likers(
            info.context, community_resolvers.CommentLikersLoader, self.row.id, first
        )
        return [Author.from_profile(profile) for profile in profiles]

    @strawberry.field(
        description="Whether you like this comment.",
        metadata=sql_field(community_resolvers.VIEWER_LIKED_COMMENT),
    )
    async def viewer_has_liked(self, info: GraphQLInfo) -> bool:
        return await info.context.loaders.get(community_resolvers.ViewerLikedCommentLoader).load(
            self.row.id
        )


TARGET_TYPES = {"post": "Post", "comment": "Comment"}
"""The GraphQL type of a report's target, by its `targetType`."""


@strawberry.type(description="A report of a post or comment, for coaches and admins to review.")
class Report(Node):
    id: strawberry.ID = strawberry.field(description="Report id.")
    target_type: ReportTargetType = strawberry.field(description="Post or comment.")
    target_id: strawberry.ID = strawberry.field(
        description="Id of the reported item (it may since have been deleted)."
    )
    reason: ReportReason = strawberry.field(description="Why it was reported.")
    description: str = strawberry.field(description="The reporter's details.")
    status: ReportStatus = strawberry.field(description="Review status.")
    action: ReportAction | None = strawberry.field(description="What the moderator did.")
    created_at: datetime = strawberry.field(description="When it was reported.")
    reviewed_at: datetime | None = strawberry.field(description="When it was resolved.")
    row: strawberry.Private[ReportModel]

    @classmethod
    def from_model(cls, row: ReportModel) -> Report:
        return cls(
            id=format_id("Report", row.id),
            target_type=ReportTargetType(row.target_type),
            target_id=format_id(TARGET_TYPES[row.target_type], row.target_id),
            reason=ReportReason(row.reason),
            description=row.description,
            status=ReportStatus(row.status),
            action=ReportAction(row.action) if row.action else None,
            created_at=row.created_at,
            reviewed_at=row.reviewed_at,
            row=row,
        )

    @strawberry.field(description="Who reported it.")
    async def reporter(self, info: GraphQLInfo) -> Author | None:
        return await _author(info, self.row.reporter_id)

    @strawberry.field(description="The moderator who resolved it.")
    async def reviewer(self, info: GraphQLInfo) -> Author | None:
        return await _author(info, self.row.reviewer_id)

    @strawberry.field(description="The reported post, if it is one and still visible to you.")
    async def post(self, info: GraphQLInfo) -> Post | None:
        if self.row.target_type != "post":
            return None
        row = await community_resolvers.get_post(info.context, self.row.target_id)
        return Post.from_model(row) if row is not None else None

    @strawberry.field(description="The reported comment, if it is one and still visible to you.")
    async def comment(self, info: GraphQLInfo) -> Comment | None:
        if self.row.target_type != "comment":
            return None
        row = await community_resolvers.get_comment(info.context, self.row.target_id)
        return Comment.from_model(row) if row is not None else None


@strawberry.input(description="Narrow the feed; all given conditions must hold.")
class FeedFilter:
    tag: str | None = strawberry.field(default=None, description="Has this tag.")
    author_id: strawberry.ID | None = strawberry.field(default=None, description="By this user.")


@strawberry.input(description="Narrow the moderation queue.")
class ReportFilter:
    status: ReportStatus | None = strawberry.field(default=None, description="In this status.")
    target_type: ReportTargetType | None = strawberry.field(
        default=None, description="About posts or comments."
    )


def _feed_filter(conditions: FeedFilter | None) -> community_resolvers.FeedFilter:
    conditions = conditions or FeedFilter()
    return community_resolvers.FeedFilter(
        tag=conditions.tag,
        author_id=parse_id(conditions.author_id, "authorId", of="User")
        if conditions.author_id is not None
        else None,
    )


@strawberry.type
class CommunityQuery:
    @strawberry.field(
        description="The community feed for signed-in members: pinned posts first, then "
        "newest, keyset-paginated (`first` default 20, max 100). Anonymous viewers see none.",
        metadata=sql_root(
            lambda ctx, first=None, after=None, filter=None: community_resolvers.feed_rows(
                ctx, _feed_filter(filter), first=first, after=after
            )
        ),
    )
    async def feed(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[FeedFilter | None, strawberry.argument(description="Conditions.")] = None,
    ) -> Connection[Post]:
        page = await community_resolvers.list_feed(
            info.context, _feed_filter(filter), first=first, after=after
        )
        await community_resolvers.load_ahead(info.context, page.rows, posts_ahead(info))
        return connection_from_page(page, Post.from_model)

    @strawberry.field(description="A post by id; null when absent or not visible.")
    async def post(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The id.")],
    ) -> Post | None:
        row = await community_resolvers.get_post(info.context, parse_id(id, of="Post"))
        return Post.from_model(row) if row is not None else None

    @strawberry.field(description="A comment by id; null when absent or not visible.")
    async def comment(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The id.")],
    ) -> Comment | None:
        row = await community_resolvers.get_comment(info.context, parse_id(id, of="Comment"))
        return Comment.from_model(row) if row is not None else None

    @strawberry.field(
        description="The moderation queue, oldest first (coaches and admins; empty for others)."
    )
    async def reports(
        self,
        info: GraphQLInfo,
        first: First = None,
        after: After = None,
        filter: Annotated[
            ReportFilter | None, strawberry.argument(description="Conditions.")
        ] = None,
    ) -> Connection[Report]:
        conditions = filter or ReportFilter()
        page = await community_resolvers.list_reports(
            info.context,
            community_resolvers.ReportFilter(
                status=community_resolvers.ReportStatus(conditions.status.value)
                if conditions.status
                else None,
                target_type=community_resolvers.TargetType(conditions.target_type.value)
                if conditions.target_type
                else None,
            ),
            first=first,
            after=after,
        )
        return connection_from_page(page, Report.from_model)


# --- mutations --------------------------------------------------------------------------


@strawberry.type(description="You already have an open report on this item. Nothing written.")
class AlreadyReported(UserError):
    pass


@strawberry.type(description="The report was already resolved. Nothing was written.")
class ReportClosed(UserError):
    pass


@strawberry.input(description="A new post.")
class CreatePostInput:
    title: str = strawberry.field(description="Title, 1-200 characters.")
    body: str = strawberry.field(description="Body, 1-10000 characters.")
    tags: list[str] | None = strawberry.field(default=None, description="Up to 10 tags.")
    published: bool = strawberry.field(
        default=True, description="False keeps it as a draft only you (and moderators) see."
    )


@strawberry.input(description="Changes to your post; omitted (null) fields stay.")
class UpdatePostInput:
    id: strawberry.ID = strawberry.field(description="The post.")
    title: str | None = strawberry.field(default=None, description="Title, 1-200 characters.")
    body: str | None = strawberry.field(default=None, description="Body, 1-10000 characters.")
    tags: list[str] | None = strawberry.field(default=None, description="Replaces the tags.")
    published: bool | None = strawberry.field(default=None, description="Publish or unpublish.")


@strawberry.input(description="Identifies a post.")
class PostIdInput:
    id: strawberry.ID = strawberry.field(description="The post.")


@strawberry.input(description="Pin or unpin a post (coaches and admins).")
class PinPostInput:
    id: strawberry.ID = strawberry.field(description="The post.")
    pinned: bool = strawberry.field(default=True, description="New state.")


@strawberry.input(description="Like or unlike a post.")
class PostLikeInput:
    post_id: strawberry.ID = strawberry.field(description="The post.")


@strawberry.input(description="A comment on a post, or a reply to a comment of that post.")
class CreateCommentInput:
    post_id: strawberry.ID = strawberry.field(description="The post.")
    parent_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The comment you reply to (same post). Replies to a reply join the "
        "thread of its top-level comment.",
    )
    body: str = strawberry.field(description="Text, 1-5000 characters.")


@strawberry.input(description="New text for your comment.")
class UpdateCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment.")
    body: str = strawberry.field(description="Text, 1-5000 characters.")


@strawberry.input(description="Identifies a comment.")
class CommentIdInput:
    id: strawberry.ID = strawberry.field(description="The comment.")


@strawberry.input(description="Hide or unhide a comment (coaches and admins).")
class HideCommentInput:
    id: strawberry.ID = strawberry.field(description="The comment.")
    hidden: bool = strawberry.field(default=True, description="New state.")


@strawberry.input(description="Like or unlike a comment.")
class CommentLikeInput:
    comment_id: strawberry.ID = strawberry.field(description="The comment.")


@strawberry.input(description="Report a post or comment to the moderators.")
class ReportContentInput:
    target_type: ReportTargetType = strawberry.field(description="Post or comment.")
    target_id: strawberry.ID = strawberry.field(description="Its id.")
    reason: ReportReason = strawberry.field(description="Why.")
    description: str | None = strawberry.field(
        default=None, description="Details, up to 2000 characters."
    )


@strawberry.input(description="Resolve a report (coaches and admins).")
class ResolveReportInput:
    id: strawberry.ID = strawberry.field(description="The report.")
    action: ReportAction = strawberry.field(
        description="DISMISS, or HIDE_CONTENT / DELETE_CONTENT (these also close the other "
        "open reports on the same item)."
    )


@strawberry.type(description="The post was saved.")
class PostSaved:
    post: Post = strawberry.field(description="The post now.")


@strawberry.type(description="The post was deleted, with its comments and likes.")
class PostDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Id of the deleted post.")


@strawberry.type(description="The comment was saved.")
class CommentSaved:
    comment: Comment = strawberry.field(description="The comment now.")


@strawberry.type(description="The comment was deleted, with its replies and likes.")
class CommentDeleted:
    deleted_id: strawberry.ID = strawberry.field(description="Id of the deleted comment.")


@strawberry.type(description="Your like of a post was set (idempotent).")
class PostLikeChanged:
    post: Post = strawberry.field(description="The post, with its like count.")
    liked: bool = strawberry.field(description="Whether you like it now.")


@strawberry.type(description="Your like of a comment was set (idempotent).")
class CommentLikeChanged:
    comment: Comment = strawberry.field(description="The comment, with its like count.")
    liked: bool = strawberry.field(description="Whether you like it now.")


@strawberry.type(description="Your report was filed for review.")
class ContentReported:
    report: Report = strawberry.field(description="The report.")


@strawberry.type(description="The report was resolved.")
class ReportResolved:
    report: Report = strawberry.field(description="The report now.")


PostResult = Annotated[
    PostSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "PostResult",
        description="Result of createPost, updatePost, hidePost, unhidePost and pinPost.",
    ),
]
DeletePostResult = Annotated[
    PostDeleted | NotAllowed | NotFoundError | ValidationError,
    strawberry.union("DeletePostResult", description="Result of deletePost."),
]
CommentResult = Annotated[
    CommentSaved | ValidationError | NotAllowed | NotFoundError,
    strawberry.union(
        "CommentResult", description="Result of createComment, updateComment and hideComment."
    ),
]
DeleteCommentResult = Annotated[
    CommentDeleted | NotAllowed | NotFoundError | ValidationError,
    strawberry.union("DeleteCommentResult", description="Result of deleteComment."),
]
PostLikeResult = Annotated[
    PostLikeChanged | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("PostLikeResult", description="Result of likePost and unlikePost."),
]
CommentLikeResult = Annotated[
    CommentLikeChanged | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("CommentLikeResult", description="Result of likeComment and unlikeComment."),
]
ReportContentResult = Annotated[
    ContentReported | AlreadyReported | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ReportContentResult", description="Result of reportContent."),
]
ResolveReportResult = Annotated[
    ReportResolved | ReportClosed | ValidationError | NotAllowed | NotFoundError,
    strawberry.union("ResolveReportResult", description="Result of resolveReport."),
]


def _post_saved(row: PostModel) -> PostSaved:
    return PostSaved(post=Post.from_model(row))


def _comment_saved(row: CommentModel) -> CommentSaved:
    return CommentSaved(comment=Comment.from_model(row))


def _report_content_error(
    error: CaregraphError,
) -> AlreadyReported | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, community_resolvers.AlreadyReported):
        return AlreadyReported(message=error.message, code=error.code)
    return user_error(error)


def _resolve_report_error(
    error: CaregraphError,
) -> ReportClosed | ValidationError | NotAllowed | NotFoundError:
    if isinstance(error, community_resolvers.ReportClosed):
        return ReportClosed(message=error.message, code=error.code)
    return user_error(error)


@strawberry.type
class CommunityMutation:
    @strawberry.mutation(description="Write a post (signed in).")
    async def create_post(
        self,
        info: GraphQLInfo,
        input: Annotated[CreatePostInput, strawberry.argument(description="The input.")],
    ) -> PostResult:
        return await mutation_result(
            lambda: community_resolvers.create_post(
                info.context, input.title, input.body, input.tags, input.published
            ),
            _post_saved,
        )

    @strawberry.mutation(description="Edit your post (admins: any post).")
    async def update_post(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdatePostInput, strawberry.argument(description="The input.")],
    ) -> PostResult:
        return await mutation_result(
            lambda: community_resolvers.update_post(
                info.context,
                parse_id(input.id, of="Post"),
                community_resolvers.PostChanges(
                    title=input.title, body=input.body, tags=input.tags, published=input.published
                ),
            ),
            _post_saved,
        )

    @strawberry.mutation(description="Delete your post (coaches and admins: any post).")
    async def delete_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PostIdInput, strawberry.argument(description="The input.")],
    ) -> DeletePostResult:
        return await mutation_result(
            lambda: community_resolvers.delete_post(info.context, parse_id(input.id, of="Post")),
            lambda deleted: PostDeleted(deleted_id=format_id("Post", deleted)),
        )

    @strawberry.mutation(description="Coaches and admins: hide a post from members.")
    async def hide_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PostIdInput, strawberry.argument(description="The input.")],
    ) -> PostResult:
        return await mutation_result(
            lambda: community_resolvers.set_post_hidden(
                info.context, parse_id(input.id, of="Post"), True
            ),
            _post_saved,
        )

    @strawberry.mutation(description="Coaches and admins: show a hidden post again.")
    async def unhide_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PostIdInput, strawberry.argument(description="The input.")],
    ) -> PostResult:
        return await mutation_result(
            lambda: community_resolvers.set_post_hidden(
                info.context, parse_id(input.id, of="Post"), False
            ),
            _post_saved,
        )

    @strawberry.mutation(description="Coaches and admins: pin (or unpin) a post.")
    async def pin_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PinPostInput, strawberry.argument(description="The input.")],
    ) -> PostResult:
        return await mutation_result(
            lambda: community_resolvers.pin_post(
                info.context, parse_id(input.id, of="Post"), input.pinned
            ),
            _post_saved,
        )

    @strawberry.mutation(description="Comment on a post or reply to a comment (signed in).")
    async def create_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[CreateCommentInput, strawberry.argument(description="The input.")],
    ) -> CommentResult:
        return await mutation_result(
            lambda: community_resolvers.create_comment(
                info.context,
                parse_id(input.post_id, "postId", of="Post"),
                parse_optional_id(input.parent_id, "parentId", of="Comment"),
                input.body,
            ),
            _comment_saved,
        )

    @strawberry.mutation(description="Edit your comment (admins: any comment).")
    async def update_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[UpdateCommentInput, strawberry.argument(description="The input.")],
    ) -> CommentResult:
        return await mutation_result(
            lambda: community_resolvers.update_comment(
                info.context, parse_id(input.id, of="Comment"), input.body
            ),
            _comment_saved,
        )

    @strawberry.mutation(description="Delete your comment (coaches and admins: any comment).")
    async def delete_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[CommentIdInput, strawberry.argument(description="The input.")],
    ) -> DeleteCommentResult:
        return await mutation_result(
            lambda: community_resolvers.delete_comment(
                info.context, parse_id(input.id, of="Comment")
            ),
            lambda deleted: CommentDeleted(deleted_id=format_id("Comment", deleted)),
        )

    @strawberry.mutation(description="Coaches and admins: hide (or unhide) a comment.")
    async def hide_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[HideCommentInput, strawberry.argument(description="The input.")],
    ) -> CommentResult:
        return await mutation_result(
            lambda: community_resolvers.set_comment_hidden(
                info.context, parse_id(input.id, of="Comment"), input.hidden
            ),
            _comment_saved,
        )

    @strawberry.mutation(description="Like a post; liking twice is one like.")
    async def like_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PostLikeInput, strawberry.argument(description="The input.")],
    ) -> PostLikeResult:
        return await _post_like(info, input, liked=True)

    @strawberry.mutation(description="Remove your like of a post; idempotent.")
    async def unlike_post(
        self,
        info: GraphQLInfo,
        input: Annotated[PostLikeInput, strawberry.argument(description="The input.")],
    ) -> PostLikeResult:
        return await _post_like(info, input, liked=False)

    @strawberry.mutation(description="Like a comment; liking twice is one like.")
    async def like_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[CommentLikeInput, strawberry.argument(description="The input.")],
    ) -> CommentLikeResult:
        return await _comment_like(info, input, liked=True)

    @strawberry.mutation(description="Remove your like of a comment; idempotent.")
    async def unlike_comment(
        self,
        info: GraphQLInfo,
        input: Annotated[CommentLikeInput, strawberry.argument(description="The input.")],
    ) -> CommentLikeResult:
        return await _comment_like(info, input, liked=False)

    @strawberry.mutation(
        description="Report a post or comment you can see; one open report per item."
    )
    async def report_content(
        self,
        info: GraphQLInfo,
        input: Annotated[ReportContentInput, strawberry.argument(description="The input.")],
    ) -> ReportContentResult:
        return await mutation_result(
            lambda: community_resolvers.report_content(
                info.context,
                community_resolvers.TargetType(input.target_type.value),
                parse_id(input.target_id, "targetId", of=TARGET_TYPES[input.target_type.value]),
                community_resolvers.ReportReason(input.reason.value),
                input.description,
            ),
            lambda row: ContentReported(report=Report.from_model(row)),
            _report_content_error,
        )

    @strawberry.mutation(description="Coaches and admins: resolve a report.")
    async def resolve_report(
        self,
        info: GraphQLInfo,
        input: Annotated[ResolveReportInput, strawberry.argument(description="The input.")],
    ) -> ResolveReportResult:
        return await mutation_result(
            lambda: community_resolvers.resolve_report(
                info.context,
                parse_id(input.id, of="Report"),
                community_resolvers.ReportAction(input.action.value),
            ),
            lambda row: ReportResolved(report=Report.from_model(row)),
            _resolve_report_error,
        )


async def _post_like(info: GraphQLInfo, input: PostLikeInput, *, liked: bool) -> PostLikeResult:
    return await mutation_result(
        lambda: community_resolvers.set_post_like(
            info.context, parse_id(input.post_id, "postId", of="Post"), liked
        ),
        lambda row: PostLikeChanged(post=Post.from_model(row), liked=liked),
    )


async def _comment_like(
    info: GraphQLInfo, input: CommentLikeInput, *, liked: bool
) -> CommentLikeResult:
    return await mutation_result(
        lambda: community_resolvers.set_comment_like(
            info.context, parse_id(input.comment_id, "commentId", of="Comment"), liked
        ),
        lambda row: CommentLikeChanged(comment=Comment.from_model(row), liked=liked),
    )


register_node("Post", PostByIdLoader, lambda _info, row: Post.from_model(row))
register_node("Comment", CommentByIdLoader, lambda _info, row: Comment.from_model(row))
register_node("Report", ReportByIdLoader, lambda _info, row: Report.from_model(row))


@strawberry.type
class CommunitySubscription:
    @strawberry.subscription(
        description="New comments and replies on a post, each once the viewer may read it "
        "(a hidden comment, or one under a hidden comment, only for moderators)."
    )
    async def comment_added(
        self,
        info: GraphQLInfo,
        post_id: Annotated[strawberry.ID, strawberry.argument(description="The post.")],
    ) -> AsyncGenerator[Comment, None]:
        post = parse_id(post_id, "postId", of="Post")
        if await info.context.loaders.get(PostByIdLoader).load(post) is None:
            raise NotFound("Post not found.")
        wanted = str(post)
        async for row in realtime.stream(
            info.context,
            "comment",
            CommentModel,
            ("post_id", wanted),
        ):
            yield Comment.from_model(row)

    @strawberry.subscription(
        description="A post as it changes (edits, like and comment counts, pinned, hidden): "
        "delivered while the viewer may read it; a post hidden by moderation stops reaching "
        "those who may not see hidden content."
    )
    async def post_changed(
        self,
        info: GraphQLInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The post.")],
    ) -> AsyncGenerator[Post, None]:
        post = parse_id(id, of="Post")
        if await info.context.loaders.get(PostByIdLoader).load(post) is None:
            raise NotFound("Post not found.")
        async for row in realtime.stream(info.context, "post", PostModel, ("row_id", post)):
            yield Post.from_model(row)

    @strawberry.subscription(
        description="Reports as they are filed: for coaches and admins (the moderation queue)."
    )
    async def report_filed(self, info: GraphQLInfo) -> AsyncGenerator[Report, None]:
        async for row in realtime.stream(info.context, "report", ReportModel):
            yield Report.from_model(row)


sql_row(Author, UserModel, ids={"id": ("Author", "id")}, attributes={"display_name": "full_name"})
sql_row(Post, PostModel, ids={"id": ("Post", "id")})
sql_row(
    Comment,
    CommentModel,
    ids={
        "id": ("Comment", "id"),
        "post_id": ("Post", "post_id"),
        "parent_id": ("Comment", "parent_id"),
    },
)
