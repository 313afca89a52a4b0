"""webhook_endpoints and webhook_deliveries: admins (and service_role) read and manage
them; nobody else sees that they exist. Deliveries are written by caregraph itself (with
the notification they carry, and by the delivery job); admins replay them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from models import WebhookDelivery, WebhookEndpoint
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


class WebhookEndpointPolicy(TablePolicy[WebhookEndpoint]):
    model = WebhookEndpoint

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        return true() if viewer.is_admin else false()

    @staticmethod
    def can_manage(viewer: Viewer) -> bool:
        """Create, change, delete endpoints, rotate their secrets, replay deliveries."""
        return viewer.is_admin or viewer.is_service


class WebhookDeliveryPolicy(TablePolicy[WebhookDelivery]):
    model = WebhookDelivery

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        return true() if viewer.is_admin else false()


webhook_endpoint_policy = WebhookEndpointPolicy()
webhook_delivery_policy = WebhookDeliveryPolicy()
