"""Outbound webhooks on a real Postgres and real sockets: deliveries signed so that a
receiver written here verifies them; retried with backoff and logged; replayed by admins;
nothing for an inactive endpoint or a rolled-back write; admins only; bad input changes
nothing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from models import AuditEntry, WebhookDelivery, WebhookEndpoint
from resolvers.core.database import Database
from resolvers.core.jobs import JobContext, run_job
from resolvers.core.settings import Settings
from resolvers.webhooks import (
    DELIVER,
    MAX_ATTEMPTS,
    WebhookNotDelivered,
    on_notification,
    signature_header,
)
from schema.ids import format_id
from server import ROOT
from tests.client import GraphQLClient, graphql_client
from tests.factories import make_doctor, make_user, user_of
from tests.jobs.test_runner import FAST, _eventually, _runner
from tests.webhooks.factories import (
    CREATE,
    count,
    deliveries,
    endpoints,
    make_endpoint,
    notify,
    queued_jobs,
)
from tests.webhooks.receiver import receiver, verify

ENDPOINTS = """
{ webhookEndpoints(first: 10) { totalCount edges { node { id url kinds active } } } }
"""
DELIVERIES = """
query ($filter: WebhookDeliveryFilter) { webhookDeliveries(first: 10, filter: $filter) {
  totalCount edges { node { id eventKind eventId status attempts lastStatusCode lastError
    lastAttemptAt nextAttemptAt deliveredAt payload endpoint { id url } } } } }
"""
UPDATE = """
mutation ($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  __typename ... on WebhookEndpointSaved { endpoint { id url kinds active description } }
  ... on ValidationError { fields { field messages } } ... on NotAllowed { code } } }
"""
DELETE = """
mutation ($input: WebhookEndpointInput!) { deleteWebhookEndpoint(input: $input) {
  __typename ... on WebhookEndpointDeleted { deletedId } ... on NotAllowed { code } } }
"""
ROTATE = """
mutation ($input: WebhookEndpointInput!) { rotateWebhookSecret(input: $input) {
  __typename ... on WebhookSecretRotated { secret endpoint { id } } ... on NotAllowed { code } } }
"""
REPLAY = """
mutation ($input: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $input) {
  __typename ... on WebhookDeliveryQueued { delivery { id status attempts } }
  ... on ValidationError { fields { field messages } } ... on NotAllowed { code } } }
"""
NODE = "query ($id: ID!) { node(id: $id) { __typename id } }"


async def _status(db: Database, delivery_id: uuid.UUID) -> str:
    async with db.read() as session:
        return str(
            await session.scalar(
                select(WebhookDelivery.status).where(WebhookDelivery.id == delivery_id)
            )
        )


def _jobs(db: Database, settings: Settings, attempt: int) -> JobContext:
    return JobContext(db, settings.model_copy(update=FAST), attempt=attempt)


async def _take_queued_jobs(db: Database) -> None:
    """The test runs the queued deliveries itself (`run_job`): out of the queue with them."""
    async with db.transaction() as session:
        await session.execute(text("DELETE FROM pgqueuer"))


# --- signatures ----------------------------------------------------------------------


def test_the_receivers_check_accepts_our_signature_and_nothing_else() -> None:
    body = b'{"kind":"booking_confirmed"}'
    now = int(time.time())
    header = signature_header("s3cret", now, body)
    assert verify("s3cret", header, body)
    assert not verify("other", header, body)
    assert not verify("s3cret", header, body + b" ")
    assert not verify("s3cret", header.replace(f"t={now}", f"t={now + 1}"), body)
    # Older than five minutes: refused even with the right signature.
    stale = signature_header("s3cret", now - 301, body)
    assert not verify("s3cret", stale, body)
    assert verify("s3cret", stale, body, now=now - 300)


async def test_a_delivery_is_signed_so_the_receiver_verifies_it(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with receiver() as hook:
        endpoint_id, secret = await make_endpoint(client, admin, hook.url)
        hook.secret = secret
        notification = await notify(db, patient, data={"startsAt": "2031-01-06T09:00:00+00:00"})
        await notify(db, patient, "payment_received")  # not a kind this endpoint takes
        [delivery] = await deliveries(db)
        assert await queued_jobs(db) == 1
        async with _runner(db, settings):
            await hook.wait_for(1)

            async def delivered() -> bool:
                return await _status(db, delivery.id) == "delivered"

            await _eventually(delivered)
    [received] = hook.requests
    assert received.verified
    assert received.headers["caregraph-event"] == "booking_confirmed"
    assert received.headers["caregraph-delivery"] == format_id("WebhookDelivery", delivery.id)
    assert received.headers["content-type"] == "application/json"
    assert orjson.loads(received.body) == {
        "id": format_id("Notification", notification.id),
        "kind": "booking_confirmed",
        "createdAt": notification.created_at.isoformat(),
        "recipient": format_id("User", patient.id),
        "subject": {
            "type": "Appointment",
            "id": format_id("Appointment", notification.subject_id),
        },
        "actorRole": "patient",
        "data": {"startsAt": "2031-01-06T09:00:00+00:00"},
    }
    log = (await client.execute(DELIVERIES, as_user=admin)).data["webhookDeliveries"]
    assert log["totalCount"] == 1
    [entry] = [edge["node"] for edge in log["edges"]]
    assert entry["status"] == "DELIVERED" and entry["attempts"] == 1
    assert entry["lastStatusCode"] == 200 and entry["lastError"] is None
    assert entry["endpoint"] == {"id": endpoint_id, "url": hook.url}
    assert entry["eventId"] == format_id("Notification", notification.id)
    assert entry["payload"] == orjson.loads(received.body)


async def test_a_receiver_with_another_secret_refuses_and_a_rotated_secret_signs(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with receiver() as hook:
        endpoint_id, secret = await make_endpoint(client, admin, hook.url)
        hook.secret = "not-" + secret
        await notify(db, await make_user(db))
        [delivery] = await deliveries(db)
        with pytest.raises(WebhookNotDelivered, match="HTTP 401"):
            await run_job(_jobs(db, settings, 0), DELIVER, {"deliveryId": str(delivery.id)})
        assert not hook.requests[0].verified

        rotated = (
            await client.execute(ROTATE, {"input": {"id": endpoint_id}}, as_user=admin)
        ).data["rotateWebhookSecret"]
        assert rotated["__typename"] == "WebhookSecretRotated"
        assert rotated["secret"] != secret
        hook.secret = rotated["secret"]
        async with db.read() as session:
            logged = orjson.dumps(list(await session.scalars(select(AuditEntry.changes))))
        assert secret.encode() not in logged and rotated["secret"].encode() not in logged
        assert b"[redacted]" in logged
        await run_job(_jobs(db, settings, 1), DELIVER, {"deliveryId": str(delivery.id)})
        assert hook.requests[1].verified
    assert await _status(db, delivery.id) == "delivered"


# --- retries, failure, replay --------------------------------------------------------


async def test_a_failing_receiver_gets_the_delivery_again_and_the_log_shows_it(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with receiver() as hook:
        _endpoint_id, hook.secret = await make_endpoint(client, admin, hook.url)
        hook.answers.extend([500, 503])
        await notify(db, await make_user(db))
        [delivery] = await deliveries(db)
        async with _runner(db, settings) as runner:

            async def delivered() -> bool:
                return await _status(db, delivery.id) == "delivered"

            await _eventually(delivered)
    assert runner.jobs_failed == 2 and runner.jobs_run == 1
    assert len(hook.requests) == 3
    assert all(received.verified for received in hook.requests)
    assert {received.headers["caregraph-delivery"] for received in hook.requests} == {
        format_id("WebhookDelivery", delivery.id)
    }
    assert {received.body for received in hook.requests} == {hook.requests[0].body}
    [entry] = [
        edge["node"]
        for edge in (await client.execute(DELIVERIES, as_user=admin)).data["webhookDeliveries"][
            "edges"
        ]
    ]
    assert entry["attempts"] == 3
    assert entry["status"] == "DELIVERED" and entry["lastStatusCode"] == 200
    assert entry["deliveredAt"] is not None and entry["nextAttemptAt"] is None
    assert await queued_jobs(db) == 0


async def test_the_last_attempt_marks_it_failed_and_an_admin_replays_it(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with receiver() as hook:
        _endpoint_id, hook.secret = await make_endpoint(client, admin, hook.url)
        hook.answers.extend([500, 500])
        await notify(db, patient)
        [delivery] = await deliveries(db)
        await _take_queued_jobs(db)
        payload = {"deliveryId": str(delivery.id)}
        # An attempt that is not the last raises, so pgqueuer retries it later.
        with pytest.raises(WebhookNotDelivered, match="HTTP 500: receiver says no"):
            await run_job(_jobs(db, settings, 0), DELIVER, payload)
        [pending] = await deliveries(db)
        assert pending.status == "pending" and pending.next_attempt_at is not None
        # The last one does not: the delivery waits as failed for an admin.
        await run_job(_jobs(db, settings, MAX_ATTEMPTS - 1), DELIVER, payload)
        [failed] = await deliveries(db)
        assert failed.status == "failed" and failed.attempts == 2
        assert failed.last_status_code == 500 and failed.next_attempt_at is None
        failed_only = await client.execute(
            DELIVERIES, {"filter": {"status": "FAILED"}}, as_user=admin
        )
        assert failed_only.data["webhookDeliveries"]["totalCount"] == 1
        delivered_only = await client.execute(
            DELIVERIES, {"filter": {"status": "DELIVERED"}}, as_user=admin
        )
        assert delivered_only.data["webhookDeliveries"]["totalCount"] == 0

        delivery_id = format_id("WebhookDelivery", delivery.id)
        refused = await client.execute(REPLAY, {"input": {"id": delivery_id}}, as_user=patient)
        assert refused.data["replayWebhookDelivery"] == {
            "__typename": "NotAllowed",
            "code": "FORBIDDEN",
        }
        assert await queued_jobs(db) == 0
        replayed = await client.execute(REPLAY, {"input": {"id": delivery_id}}, as_user=admin)
        assert replayed.data["replayWebhookDelivery"] == {
            "__typename": "WebhookDeliveryQueued",
            "delivery": {"id": delivery_id, "status": "PENDING", "attempts": 2},
        }
        assert await queued_jobs(db) == 1
        async with _runner(db, settings):

            async def delivered() -> bool:
                return await _status(db, delivery.id) == "delivered"

            await _eventually(delivered)
    assert len(hook.requests) == 3 and all(r.verified for r in hook.requests)
    [done] = await deliveries(db)
    assert done.attempts == 3 and done.last_error is None
    async with db.read() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert "webhook_delivery.replay" in actions


async def test_an_unreachable_endpoint_records_the_network_error(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with receiver() as hook:
        url = hook.url
    await make_endpoint(client, admin, url)  # nothing listens there any more
    await notify(db, await make_user(db))
    [delivery] = await deliveries(db)
    with pytest.raises(WebhookNotDelivered, match="ConnectError"):
        await run_job(_jobs(db, settings, 0), DELIVER, {"deliveryId": str(delivery.id)})
    [pending] = await deliveries(db)
    assert pending.status == "pending" and pending.last_status_code is None
    assert pending.last_error is not None and "ConnectError" in pending.last_error


# --- what sends nothing --------------------------------------------------------------


async def test_an_inactive_endpoint_gets_nothing(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with receiver() as hook:
        endpoint_id, hook.secret = await make_endpoint(client, admin, hook.url)
        # Deactivated after the event was queued: the job finds it inactive and skips it.
        await notify(db, patient)
        [queued] = await deliveries(db)
        await _take_queued_jobs(db)
        off = await client.execute(
            UPDATE, {"input": {"id": endpoint_id, "active": False}}, as_user=admin
        )
        assert off.data["updateWebhookEndpoint"]["endpoint"]["active"] is False
        await run_job(_jobs(db, settings, 0), DELIVER, {"deliveryId": str(queued.id)})
        [skipped] = await deliveries(db)
        assert skipped.status == "skipped" and skipped.attempts == 0
        # Inactive when the event happens: no delivery at all.
        await notify(db, patient)
        assert len(await deliveries(db)) == 1 and await queued_jobs(db) == 0
        # Replaying to an inactive endpoint is refused.
        refused = await client.execute(
            REPLAY, {"input": {"id": format_id("WebhookDelivery", queued.id)}}, as_user=admin
        )
        assert refused.data["replayWebhookDelivery"]["__typename"] == "ValidationError"
        assert await queued_jobs(db) == 0
        # Active again: the next event is delivered.
        await client.execute(UPDATE, {"input": {"id": endpoint_id, "active": True}}, as_user=admin)
        await notify(db, patient)
        assert await queued_jobs(db) == 1
        async with _runner(db, settings):
            await hook.wait_for(1)
    assert len(hook.requests) == 1


async def test_a_deleted_endpoint_gets_nothing_and_its_log_goes(
    client: GraphQLClient, db: Database, settings: Settings
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with receiver() as hook:
        endpoint_id, hook.secret = await make_endpoint(client, admin, hook.url)
        await notify(db, await make_user(db))
        [queued] = await deliveries(db)
        deleted = await client.execute(DELETE, {"input": {"id": endpoint_id}}, as_user=admin)
        assert deleted.data["deleteWebhookEndpoint"] == {
            "__typename": "WebhookEndpointDeleted",
            "deletedId": endpoint_id,
        }
        await run_job(_jobs(db, settings, 0), DELIVER, {"deliveryId": str(queued.id)})
    assert hook.requests == []
    assert await deliveries(db) == []


async def test_a_rolled_back_write_enqueues_nothing(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    async with receiver() as hook:
        await make_endpoint(client, admin, hook.url, kinds=("BOOKING_CONFIRMED", "REPLY"))

        class Refused(Exception):
            pass

        from models import Notification

        with pytest.raises(Refused):
            async with db.transaction() as session:
                notification = Notification(
                    user_id=patient.id,
                    kind="reply",
                    subject_type="Comment",
                    subject_id=uuid.uuid4(),
                )
                session.add(notification)
                await session.flush()
                await on_notification(session, notification)
                assert await session.scalar(select(WebhookDelivery.id)) is not None
                raise Refused
    assert await deliveries(db) == [] and await queued_jobs(db) == 0
    # The same write committed has its delivery and job.
    await notify(db, patient, "reply")
    assert len(await deliveries(db)) == 1 and await queued_jobs(db) == 1


async def test_each_endpoint_of_the_kind_gets_one_delivery(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    first, _ = await make_endpoint(client, admin, "https://sms.example.test/hook")
    second, _ = await make_endpoint(
        client, admin, "https://mail.example.test/hook", kinds=("BOOKING_CONFIRMED", "REPLY")
    )
    await make_endpoint(client, admin, "https://push.example.test/hook", kinds=("REPLY",))
    notification = await notify(db, patient)
    rows = await deliveries(db)
    assert sorted(format_id("WebhookEndpoint", row.endpoint_id) for row in rows) == sorted(
        [first, second]
    )
    assert {row.event_id for row in rows} == {notification.id}
    # Told twice about one notification: still one delivery per endpoint.
    async with db.transaction() as session:
        await on_notification(session, notification)
    assert len(await deliveries(db)) == 2 and await queued_jobs(db) == 2
    by_endpoint = await client.execute(
        DELIVERIES, {"filter": {"endpointId": second}}, as_user=admin
    )
    assert by_endpoint.data["webhookDeliveries"]["totalCount"] == 1


# --- admins only; validation ---------------------------------------------------------


async def test_only_admins_see_and_manage_webhooks(client: GraphQLClient, db: Database) -> None:
    admin = await make_user(db, roles=("admin",))
    patient = await make_user(db)
    doctor_user = await user_of(db, await make_doctor(db))
    endpoint_id, secret = await make_endpoint(client, admin, "https://sms.example.test/hook")
    await notify(db, patient)
    [delivery] = await deliveries(db)
    delivery_id = format_id("WebhookDelivery", delivery.id)

    seen = (await client.execute(ENDPOINTS, as_user=admin)).data["webhookEndpoints"]
    assert seen["totalCount"] == 1
    assert seen["edges"][0]["node"]["id"] == endpoint_id
    assert seen["edges"][0]["node"]["kinds"] == ["BOOKING_CONFIRMED"]
    service = await client.execute(ENDPOINTS, as_user="service")
    assert service.data["webhookEndpoints"]["totalCount"] == 1
    for row_id in (endpoint_id, delivery_id):
        node = (await client.execute(NODE, {"id": row_id}, as_user=admin)).data["node"]
        assert node is not None and node["id"] == row_id

    for user in (patient, doctor_user, None):
        for query in (ENDPOINTS, DELIVERIES):
            answer = await client.execute(query, as_user=user)
            assert answer.codes == ["FORBIDDEN"], (user, query)
        for row_id in (endpoint_id, delivery_id):
            assert (await client.execute(NODE, {"id": row_id}, as_user=user)).data["node"] is None
        writes: list[tuple[str, str, dict[str, Any]]] = [
            ("createWebhookEndpoint", CREATE, {"url": "https://x.test/", "kinds": ["REPLY"]}),
            ("updateWebhookEndpoint", UPDATE, {"id": endpoint_id, "active": False}),
            ("rotateWebhookSecret", ROTATE, {"id": endpoint_id}),
            ("deleteWebhookEndpoint", DELETE, {"id": endpoint_id}),
            ("replayWebhookDelivery", REPLAY, {"id": delivery_id}),
        ]
        for field, mutation, variables in writes:
            answer = await client.execute(mutation, {"input": variables}, as_user=user)
            assert answer.data[field]["__typename"] == "NotAllowed", (user, field)
            assert answer.data[field]["code"] == "FORBIDDEN"

    [endpoint] = await endpoints(db)
    assert endpoint.active and endpoint.secret == secret
    assert endpoint.url == "https://sms.example.test/hook"
    assert await count(db, WebhookDelivery) == 1 and await queued_jobs(db) == 1
    # The admin's writes are audited, without the secret.
    async with db.read() as session:
        entries = list(await session.scalars(select(AuditEntry)))
    assert [(e.action, e.target_type) for e in entries] == [
        ("webhook_endpoint.create", "WebhookEndpoint")
    ]
    assert secret not in orjson.dumps(entries[0].changes).decode()


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"url": "ftp://files.example.test/", "kinds": ["REPLY"]}, "url"),
        ({"url": "https://", "kinds": ["REPLY"]}, "url"),
        ({"url": "https://user:pw@example.test/", "kinds": ["REPLY"]}, "url"),
        ({"url": "https://example.test/a b", "kinds": ["REPLY"]}, "url"),
        ({"url": "https://example.test:99999/", "kinds": ["REPLY"]}, "url"),
        ({"url": "https://example.test/" + "a" * 2000, "kinds": ["REPLY"]}, "url"),
        ({"url": "https://example.test/", "kinds": []}, "kinds"),
        (
            {"url": "https://example.test/", "kinds": ["REPLY"], "description": "x" * 201},
            "description",
        ),
    ],
)
async def test_invalid_endpoints_are_refused_and_change_nothing(
    client: GraphQLClient, db: Database, variables: dict[str, Any], field: str
) -> None:
    admin = await make_user(db, roles=("admin",))
    answer = await client.execute(CREATE, {"input": variables}, as_user=admin)
    result = answer.data["createWebhookEndpoint"]
    assert result["__typename"] == "ValidationError"
    assert [error["field"] for error in result["fields"]] == [field]
    assert await count(db, WebhookEndpoint) == 0
    assert await count(db, AuditEntry) == 0


async def test_http_urls_only_in_development_and_updates_are_checked_too(
    settings: Settings, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with graphql_client(
        settings, db, env="production", rate_limits=False, differential=False
    ) as production:
        refused = await production.execute(
            CREATE,
            {"input": {"url": "http://sms.example.test/", "kinds": ["REPLY"]}},
            as_user=admin,
        )
        assert refused.data["createWebhookEndpoint"]["fields"] == [
            {"field": "url", "messages": ["must start with https://"]}
        ]
        endpoint_id, _ = await make_endpoint(production, admin, "https://sms.example.test/")
        bad = await production.execute(
            UPDATE,
            {"input": {"id": endpoint_id, "url": "http://sms.example.test/", "kinds": []}},
            as_user=admin,
        )
        assert sorted(e["field"] for e in bad.data["updateWebhookEndpoint"]["fields"]) == [
            "kinds",
            "url",
        ]
    async with graphql_client(settings, db) as development:
        allowed = await development.execute(
            UPDATE,
            {"input": {"id": endpoint_id, "url": "http://127.0.0.1:9/", "kinds": ["REPLY"]}},
            as_user=admin,
        )
        assert allowed.data["updateWebhookEndpoint"]["endpoint"]["url"] == "http://127.0.0.1:9/"
    [endpoint] = await endpoints(db)
    assert endpoint.kinds == ["reply"]


def test_the_readmes_receiver_snippet_verifies_our_signatures() -> None:
    readme = (Path(ROOT) / "README.md").read_text()
    section = readme[readme.index("## Webhooks") :]
    start = section.index("```python\n") + len("```python\n")
    snippet = section[start : section.index("```", start)]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    readme_verify = namespace["verify"]
    body = b'{"id":"x","kind":"reply"}'
    now = int(time.time())
    header = signature_header("whsec", now, body)
    assert readme_verify("whsec", header, body)
    assert not readme_verify("whsec", header, body[:-1])
    assert not readme_verify("other", header, body)
    assert not readme_verify("whsec", signature_header("whsec", now - 600, body), body)
    assert not readme_verify("whsec", "garbage", body)
