"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field

from resolvers.database import Database
from resolvers.identity import Viewer
from resolvers.loaders import Loaders
from resolvers.settings import Settings


@dataclass
class Context:
    viewer: Viewer
    db: Database
    settings: Settings
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.viewer)
