"""Demo community: a feed with a pinned welcome post,
threaded comments, likes, a draft, one hidden post and one open report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Comment, CommentLike, Post, PostLike, Report
from resolvers.demo.ids import demo_id, user_id_for

# key, author email, title, body, tags, hours ago, pinned, published, hidden
POSTS: list[tuple[str, str, str, str, list[str], int, bool, bool, bool]] = [
    (
        "welcome",
        "coach@caregraph.dev",
        "Welcome to the community!",
        "Introduce yourself below and share one goal for this month. Be kind; we moderate.",
        ["announcements"],
        240,
        True,
        True,
        False,
    ),
    (
        "sleep-wins",
        "patient@caregraph.dev",
        "Two weeks of 7+ hours of sleep",
        "The sleep basics lesson helped: no screens after 10pm and a fixed wake-up time.",
        ["sleep", "wins"],
        48,
        False,
        True,
        False,
    ),
    (
        "walking",
        "patient2@caregraph.dev",
        "Who wants a walking buddy?",
        "Trying to get 8k steps a day. Anyone in London up for weekend walks?",
        ["movement"],
        30,
        False,
        True,
        False,
    ),
    (
        "meal-prep",
        "patient3@caregraph.dev",
        "Sunday meal prep ideas",
        "Share your favourite high-protein lunches that keep for three days.",
        ["nutrition"],
        20,
        False,
        True,
        False,
    ),
    (
        "stress",
        "patient4@caregraph.dev",
        "Breathing exercise before meetings",
        "Box breathing for two minutes before stressful calls works for me.",
        ["stress", "breathing"],
        8,
        False,
        True,
        False,
    ),
    (
        "draft",
        "patient@caregraph.dev",
        "My 30-day reflection (draft)",
        "Still writing this one.",
        ["wins"],
        2,
        False,
        False,
        False,
    ),
    (
        "spam",
        "patient5@caregraph.dev",
        "Cheap supplements, DM me",
        "Miracle pills, 90% off, link in bio!!!",
        ["offers"],
        5,
        False,
        True,
        True,
    ),
]

# key, post key, parent key, author email, body, hours ago
COMMENTS: list[tuple[str, str, str | None, str, str, int]] = [
    ("w1", "welcome", None, "patient@caregraph.dev", "Hi all! Goal: sleep 7 hours.", 230),
    ("w2", "welcome", None, "patient2@caregraph.dev", "Hello! Walking more this month.", 220),
    ("w1r1", "welcome", "w1", "coach@caregraph.dev", "Great goal. Try the sleep lesson.", 228),
    ("w1r2", "welcome", "w1", "patient3@caregraph.dev", "Same goal here!", 200),
    ("s1", "sleep-wins", None, "patient2@caregraph.dev", "Congrats! What was hardest?", 40),
    ("s1r1", "sleep-wins", "s1", "patient@caregraph.dev", "Putting the phone away.", 38),
    ("k1", "walking", None, "patient6@caregraph.dev", "I'm in Camden, happy to join.", 25),
    ("k2", "walking", None, "patient7@caregraph.dev", "Buy my step counter!!! 50% off", 24),
    ("m1", "meal-prep", None, "coach@caregraph.dev", "Lentil salad keeps really well.", 18),
    (
        "m2",
        "meal-prep",
        None,
        "staff@caregraph.dev",
        "Our nutrition workshop on Thursdays covers batch cooking; ask at the desk.",
        12,
    ),
    ("m2r1", "meal-prep", "m2", "patient3@caregraph.dev", "Signed up for this week!", 10),
]


async def load_community_demo(session: AsyncSession) -> None:
    now = datetime.now(UTC)
    coach = user_id_for("coach@caregraph.dev")
    posts: list[dict[str, Any]] = []
    for key, email, title, body, tags, hours, pinned, published, hidden in POSTS:
        posts.append(
            {
                "id": demo_id("post", key),
                "author_id": user_id_for(email),
                "title": title,
                "body": body,
                "tags": tags,
                "pinned": pinned,
                "published": published,
                "hidden": hidden,
                "hidden_at": now - timedelta(hours=hours - 1) if hidden else None,
                "hidden_by": coach if hidden else None,
                "created_at": now - timedelta(hours=hours),
                "updated_at": now - timedelta(hours=hours),
            }
        )
    await session.execute(pg_insert(Post).values(posts).on_conflict_do_nothing())
    comments = [
        {
            "id": demo_id("comment", key),
            "post_id": demo_id("post", post_key),
            "parent_id": demo_id("comment", parent) if parent else None,
            "author_id": user_id_for(email),
            "body": body,
            "hidden": False,
            "created_at": now - timedelta(hours=hours),
            "updated_at": now - timedelta(hours=hours),
        }
        for key, post_key, parent, email, body, hours in COMMENTS
    ]
    # Parents first: the list is ordered so that every parent precedes its replies.
    await session.execute(pg_insert(Comment).values(comments).on_conflict_do_nothing())

    likers = [f"patient{n}@caregraph.dev" for n in range(3, 9)] + [
        "patient@caregraph.dev",
        "patient2@caregraph.dev",
        "coach@caregraph.dev",
    ]
    post_likes = {
        "welcome": likers,
        "sleep-wins": likers[:5],
        "walking": likers[2:6],
        "meal-prep": likers[:2],
        "stress": likers[4:7],
    }
    await session.execute(
        pg_insert(PostLike)
        .values(
            [
                {"post_id": demo_id("post", key), "user_id": user_id_for(email)}
                for key, emails in post_likes.items()
                for email in emails
            ]
        )
        .on_conflict_do_nothing()
    )
    comment_likes = {"w1": likers[:3], "w1r1": likers[3:5], "s1r1": likers[:2], "k1": likers[6:]}
    await session.execute(
        pg_insert(CommentLike)
        .values(
            [
                {"comment_id": demo_id("comment", key), "user_id": user_id_for(email)}
                for key, emails in comment_likes.items()
                for email in emails
            ]
        )
        .on_conflict_do_nothing()
    )
    await session.execute(
        pg_insert(Report)
        .values(
            id=demo_id("report", "k2"),
            reporter_id=user_id_for("patient2@caregraph.dev"),
            target_type="comment",
            target_id=demo_id("comment", "k2"),
            reason="spam",
            description="Advertising in my walking thread.",
            status="pending",
        )
        .on_conflict_do_nothing()
    )
    # The spam post was reported by an admin too; a coach hid it (closing the report).
    await session.execute(
        pg_insert(Report)
        .values(
            id=demo_id("report", "spam"),
            reporter_id=user_id_for("admin@caregraph.dev"),
            target_type="post",
            target_id=demo_id("post", "spam"),
            reason="spam",
            description="Selling pills.",
            status="actioned",
            action="hide_content",
            reviewer_id=coach,
            reviewed_at=now - timedelta(hours=4),
        )
        .on_conflict_do_nothing()
    )
