"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resolvers.core.database import Database
from resolvers.core.identity import Viewer
from resolvers.core.loaders import Loaders
from resolvers.core.rate_limits import RateLimit
from resolvers.core.settings import Settings

if TYPE_CHECKING:
    from resolvers.core.realtime import RealtimeHub


@dataclass
class Context:
    viewer: Viewer
    db: Database
    settings: Settings
    request_id: str
    loaders: Loaders = field(init=False)
    executor: str = field(default="graphql-core", init=False)
    """Which executor answered: `compiled` (schema/engine/execution.py) or `graphql-core`."""
    raw_json: bool = field(default=False, init=False)
    """The answer is written by the HTTP endpoint, which takes a field's value that
    Postgres wrote as JSON as it is (`schema.engine.sql_json.RawJson`); elsewhere it is
    parsed into Python values."""
    sql_json_fields: list[str] = field(default_factory=list, init=False)
    """Root fields Postgres answered as JSON (schema/engine/sql_json.py), for the access log."""
    operation_cost: int | None = field(default=None, init=False)
    """The operation's measured cost (`schema.engine.limits.RequestLimits`), for the rate limits."""
    realtime: RealtimeHub | None = field(default=None, init=False)
    """The process's realtime hub, for subscriptions (schema/engine/websocket.py)."""
    delivering: Any = field(default=None, init=False)
    """A subscription's current event row, the same object for every subscriber it
    reaches (resolvers/core/realtime.py `stream`); None outside subscription events."""
    rate_limit: RateLimit | None = field(default=None, init=False)
    """The bucket this request draws on (`schema.engine.rate_limits`); None: not limited."""

    def __post_init__(self) -> None:
        self.reset_loaders()

    def reset_loaders(self, *, with_viewer_row: bool = True) -> None:
        """Empty loader caches, as at the start of the request: with the viewer's own row
        primed from the viewer statement, unless a write since may have changed it."""
        previous = getattr(self, "loaders", None)
        if previous is not None:
            previous.close()
        self.loaders = Loaders(self.db, self.viewer, with_viewer_rows=with_viewer_row)

    def close(self) -> None:
        """The request is answered: free what its loaders hold (see `Loaders.close`)."""
        self.loaders.close()
