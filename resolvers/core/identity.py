"""Who is asking: JWT verification (HS256 secret, RS256/ES256 from a JWKS) and the Viewer."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from sqlalchemy import text

from resolvers.core.database import Database
from resolvers.core.errors import Unauthenticated
from resolvers.core.settings import Settings

ClaimRole = Literal["anon", "authenticated", "service_role"]
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class Viewer:
    """The caller of one request. App roles are loaded from `user_roles` once per request."""

    role: ClaimRole
    user_id: uuid.UUID | None = None
    email: str | None = None
    app_roles: frozenset[str] = field(default_factory=frozenset)
    doctor_id: uuid.UUID | None = None
    # The viewer's own `users` row as read with the roles (column name -> value), so the
    # request can serve it without a second statement; None for anon and service_role.
    profile: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # With read replicas: the primary's WAL position after the viewer's last write, read
    # with the viewer (resolvers/core/replicas.py); None: no write recorded.
    written_lsn: int | None = field(default=None, compare=False, repr=False)

    @property
    def is_service(self) -> bool:
        return self.role == "service_role"

    @property
    def is_signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.app_roles

    @property
    def is_coach(self) -> bool:
        return "coach" in self.app_roles

    @property
    def is_staff(self) -> bool:
        """Front desk: books, holds, reschedules and cancels for any patient; reads
        appointments, payments and patients' contact details, never clinical data."""
        return "staff" in self.app_roles

    @property
    def is_doctor(self) -> bool:
        return self.doctor_id is not None


ANON = Viewer(role="anon")
SERVICE = Viewer(role="service_role")


# An unknown `kid` refreshes a URL-backed key set at most this often, so tokens with
# made-up key ids cannot make every request fetch the JWKS.
UNKNOWN_KID_REFRESH_SECONDS = 30.0
# Verified HS256 tokens kept (claims re-checked for time on every use); cleared when full.
VERIFIED_TOKENS_KEPT = 4096


class TokenVerifier:
    """Verifies signature, `exp`, `aud` and `iss` (when configured). Keys from a JWKS are
    matched by `kid` and cached; an unknown `kid` refreshes the URL-backed set, at most
    once per `UNKNOWN_KID_REFRESH_SECONDS`."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.jwks_url = settings.jwks_url
        self.cache_seconds = settings.jwks_cache_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()
        self._verified: dict[str, dict[str, Any]] = {}
        if settings.jwks_file is not None:
            self._keys = self._parse_jwks(settings.jwks_file.read_text())

    @staticmethod
    def _parse_jwks(document: str) -> dict[str, jwt.PyJWK]:
        key_set = jwt.PyJWKSet.from_json(document)
        return {key.key_id or "": key for key in key_set.keys}

    async def _refresh_from_url(self) -> None:
        assert self.jwks_url is not None
        url = self.jwks_url

        def fetch() -> str:
            import urllib.request

            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())

        document = await asyncio.to_thread(fetch)
        self._keys = self._parse_jwks(document)
        self._fetched_at = time.monotonic()

    def _needs_refresh(self, kid: str | None) -> bool:
        age = time.monotonic() - self._fetched_at
        unknown = (kid or "") not in self._keys
        return age > self.cache_seconds or (unknown and age > UNKNOWN_KID_REFRESH_SECONDS)

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        if self.jwks_url is not None and self._needs_refresh(kid):
            async with self._lock:
                # Concurrent requests waited on the lock: the first one already fetched.
                if self._needs_refresh(kid):
                    try:
                        await self._refresh_from_url()
                    except (OSError, ValueError, jwt.PyJWKError) as exc:
                        if not self._keys:
                            raise Unauthenticated("Signing keys are unavailable") from exc
        key = self._keys.get(kid or "")
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise Unauthenticated("Token signed with an unknown key")
        return key

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims. An HS256 token verified before (same secret for the life of
        the process) is not decoded again, only its `exp`, `nbf` and `iat` are checked
        against the clock; tokens signed with JWKS keys are verified every time, so a
        key removed from the set stops its tokens at once."""
        known = self._verified.get(token)
        if known is not None:
            if _current(known):
                return known
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("Malformed token") from exc
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            if not self.secret:
                raise Unauthenticated("HS256 tokens are not accepted")
            key = self.secret
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if not self._keys and self.jwks_url is None:
                raise Unauthenticated(f"{algorithm} tokens are not accepted")
            key = await self._key_for(header.get("kid"))
        else:
            raise Unauthenticated(f"Unsupported token algorithm: {algorithm!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("Token audience is not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("Token issuer is not accepted") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"Invalid token: {exc}") from exc
        if algorithm == "HS256":
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.clear()
            self._verified[token] = claims
        return claims


def _current(claims: dict[str, Any]) -> bool:
    """The time checks `jwt.decode` made (no leeway): not expired, not before `nbf`, not
    issued in the future."""
    now = time.time()
    return now < claims["exp"] and claims.get("nbf", now) <= now and claims.get("iat", now) <= now


_VIEWER_SQL = text(
    """
    SELECT u.email, u.full_name, u.phone, u.timezone, u.avatar_url, u.created_at,
           u.updated_at, u.deactivated_at,
           ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id) AS roles,
           (SELECT d.id FROM doctors d WHERE d.user_id = u.id) AS doctor_id
      FROM users u
     WHERE u.id = :id
    """
)

# With read replicas, also the WAL position of the viewer's last write (read-your-writes).
_VIEWER_WITH_MARK_SQL = text(
    """
    SELECT u.email, u.full_name, u.phone, u.timezone, u.avatar_url, u.created_at,
           u.updated_at, u.deactivated_at,
           ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id) AS roles,
           (SELECT d.id FROM doctors d WHERE d.user_id = u.id) AS doctor_id,
           (SELECT m.lsn FROM replica_read_marks m WHERE m.user_id = u.id) AS written_lsn
      FROM users u
     WHERE u.id = :id
    """
)

_PROVISION_SQL = text(
    """
    INSERT INTO users (id, email, full_name)
    VALUES (:id, :email, :full_name)
    ON CONFLICT DO NOTHING
    """
)


async def load_viewer(db: Database, claims: dict[str, Any]) -> Viewer:
    """Turns verified claims into a Viewer, provisioning the user on first sight
    (like the seeds' sign-up trigger). Concurrent first requests create one user."""
    role = claims.get("role", "authenticated")
    if role == "anon":
        return ANON
    if role == "service_role":
        return SERVICE
    if role != "authenticated":
        raise Unauthenticated(f"Unknown role claim: {role!r}")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except (KeyError, ValueError) as exc:
        raise Unauthenticated("Token has no valid `sub` claim") from exc

    # Autocommit: the provisioning INSERT is one statement, committed on its own. Always
    # on the primary (no operation scope yet): a mutation's checks use these roles.
    statement = _VIEWER_SQL if db.replicas is None else _VIEWER_WITH_MARK_SQL
    found = await db.rows(statement, {"id": user_id}, reusable=True)
    if not found:
        email = str(claims.get("email") or f"{user_id}@users.invalid").strip().lower()
        async with db.autocommit_engine.connect() as conn:
            await conn.execute(
                _PROVISION_SQL,
                {"id": user_id, "email": email, "full_name": email.split("@")[0]},
            )
        if db.replicas is not None:
            await db.replicas.record_write(user_id)  # the new user's row, read back
        found = await db.rows(statement, {"id": user_id}, reusable=True)
        if not found:
            raise Unauthenticated("The token's email belongs to another account")
    row = found[0]
    if row.deactivated_at is not None:
        raise Unauthenticated("This account is deactivated.")
    roles = frozenset({"patient", *row.roles})
    if row.doctor_id is not None:
        roles = roles | {"doctor"}
    profile = {
        "id": user_id,
        "email": row.email,
        "full_name": row.full_name,
        "phone": row.phone,
        "timezone": row.timezone,
        "avatar_url": row.avatar_url,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    return Viewer(
        role="authenticated",
        user_id=user_id,
        email=row.email,
        app_roles=roles,
        doctor_id=row.doctor_id,
        profile=profile,
        written_lsn=getattr(row, "written_lsn", None),
    )


def mint_token(
    secret: str,
    *,
    user_id: uuid.UUID | None,
    email: str | None = None,
    role: ClaimRole = "authenticated",
    audience: str | None = "authenticated",
    issuer: str | None = None,
    ttl_seconds: int = 7 * 24 * 3600,
) -> str:
    """An HS256 token with Supabase-compatible claims (dev, demo and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {"role": role, "iat": now, "exp": now + ttl_seconds}
    if user_id is not None:
        claims["sub"] = str(user_id)
    if email is not None:
        claims["email"] = email
    if audience is not None:
        claims["aud"] = audience
    if issuer is not None:
        claims["iss"] = issuer
    claims["app_metadata"] = {"provider": "email"}
    return jwt.encode(claims, secret, algorithm="HS256")
