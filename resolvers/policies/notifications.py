"""notifications: each user reads and marks their own inbox, nobody else's (admins
included: an inbox is personal); caregraph writes them (in the transaction of what they
tell about, or in a job). A notification's subject is read through the subject's own
table policy: one about something its user may no longer read shows no subject."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false

from models import Notification
from resolvers.core.identity import Viewer
from resolvers.policies.base import TablePolicy


class NotificationPolicy(TablePolicy[Notification]):
    model = Notification

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.user_id is None:
            return false()
        return Notification.user_id == viewer.user_id


notification_policy = NotificationPolicy()
