"""The encoding of global object ids, for code below the schema that must write them
(webhook payloads): the url-safe base64 of `<Type>:<uuid>`, unpadded. `schema.ids` formats
and parses every id the API shows through this one function."""

from __future__ import annotations

import base64
import uuid


def global_id(type_name: str, value: uuid.UUID) -> str:
    """The global id of the row `value` of the GraphQL type `type_name`."""
    raw = f"{type_name}:{value}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
