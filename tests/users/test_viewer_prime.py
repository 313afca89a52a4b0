"""The viewer's own user row comes with the viewer statement: reading it costs no second
statement, and it is the same row (contact fields included) a loader would read."""

from __future__ import annotations

from resolvers.core.database import Database
from tests.client import GraphQLClient
from tests.factories import gid, make_user

OWN_USER_BY_ID = """
query OwnUser($id: ID!) {
  viewer { user { id fullName email phone timezone avatarUrl createdAt } }
  user(id: $id) { id fullName email phone }
}
"""
OTHER_USER = "query Other($id: ID!) { user(id: $id) { id fullName } }"
UPDATE_AND_READ = """
mutation {
  updateViewerProfile(input: {fullName: "New Name", phone: "+15550002222"}) {
    ... on ViewerProfileUpdated { user { fullName phone } }
  }
}
"""


async def test_own_user_is_served_from_the_viewer_statement(
    client: GraphQLClient, db: Database
) -> None:
    user = await make_user(db, full_name="Lena Haddad", phone="+15550003333")
    response = await client.execute(OWN_USER_BY_ID, {"id": gid(user)}, as_user=user)
    own = response.data["viewer"]["user"]
    assert own["id"] == gid(user)
    assert own["fullName"] == "Lena Haddad"
    assert own["email"] == user.email
    assert own["phone"] == "+15550003333"
    assert own["timezone"] == "UTC"
    assert own["avatarUrl"] is None
    assert own["createdAt"]
    assert response.data["user"] == {
        "id": gid(user),
        "fullName": "Lena Haddad",
        "email": user.email,
        "phone": "+15550003333",
    }
    assert response.statements == 1  # the viewer statement only


async def test_other_users_still_go_through_the_users_policy(
    client: GraphQLClient, db: Database
) -> None:
    user = await make_user(db)
    other = await make_user(db)
    response = await client.execute(OTHER_USER, {"id": gid(other)}, as_user=user)
    assert response.data["user"] is None
    assert response.statements == 2


async def test_profile_update_is_seen_by_the_payload_and_the_next_request(
    client: GraphQLClient, db: Database
) -> None:
    user = await make_user(db)
    updated = await client.execute(UPDATE_AND_READ, as_user=user)
    assert updated.data["updateViewerProfile"]["user"] == {
        "fullName": "New Name",
        "phone": "+15550002222",
    }
    response = await client.execute(OWN_USER_BY_ID, {"id": gid(user)}, as_user=user)
    assert response.data["viewer"]["user"]["fullName"] == "New Name"
    assert response.data["user"]["phone"] == "+15550002222"
