"""MQTT credentials: random secrets and hashes in Mosquitto's own ``$7$`` (PBKDF2-SHA512) format.

Keeping Mosquitto's format means a password file for an external Mosquitto can be generated
from the registry without ever storing a clear-text password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_ITERATIONS = 101  # mosquitto_passwd's default; secrets are 192-bit random, not human passwords
_SALT_BYTES = 12
_KEY_BYTES = 64


def new_secret() -> str:
    """A fresh URL-safe random secret (192 bits)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = _ITERATIONS) -> str:
    """``$7$<iterations>$<salt b64>$<hash b64>``, as written by ``mosquitto_passwd``."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash; constant-time comparison."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3])
        expected = base64.b64decode(parts[4])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(expected))
    return hmac.compare_digest(digest, expected)


def hash_token(token: str) -> str:
    """SHA-256 hex of an API token (tokens are high-entropy, so a fast hash is adequate)."""
    return hashlib.sha256(token.encode()).hexdigest()
