"""Demo ids: the same on every machine (uuid5 of a fixed namespace), so the README's ids
and tokens hold everywhere."""

from __future__ import annotations

import uuid

DEMO_NAMESPACE = uuid.UUID("6f1c1d2e-3b7a-4c55-9a8e-2f0b5d1c9e77")


def demo_id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{key}")


def user_id_for(email: str) -> uuid.UUID:
    return demo_id("user", email.lower())


def doctor_email(index: int, name: str) -> str:
    if index == 0:
        return "doctor@caregraph.dev"
    slug = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isalnum() or ch in ".-")
    return f"dr.{slug}@caregraph.dev"


REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def demo_reference(appointment_id: uuid.UUID) -> str:
    """A fixed booking reference for a demo appointment (the database draws random ones
    for real bookings), so the README's reference works on every machine."""
    number = appointment_id.int
    symbols = []
    for _ in range(8):
        number, index = divmod(number, len(REFERENCE_ALPHABET))
        symbols.append(REFERENCE_ALPHABET[index])
    return "".join(symbols)
