"""Who is calling: the API keys, each key's role, and the owner hash that a key's VideoJobs carry.

Keys come from ``api_keys`` and ``api_keys_file`` (a mounted Secret), one per entry or line: ``<key>`` for a tenant,
``<key> admin`` for an admin, who sees and acts on every job. Authentication is off only when ``auth_disabled`` says
so: no key, or a key file that cannot be read or holds none, stops the API at start (fail closed, never silently
open). With authentication off there is one tenant and every caller sees every job.

A tenant's VideoJobs carry ``videogen.dev/owner``: a hash of the key, never the key, so one key's jobs are found
with a label selector and a key rotated out leaves its jobs visible to admins only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from videogen_api.config import ApiSettings, ConfigurationError
from videogen_api.errors import ApiError
from videogen_common.resources.meta import LABEL_OWNER
from videogen_common.resources.objects import VideoJob

ADMIN_ROLE: Final = "admin"
_UNAUTHORIZED_HEADERS: Final = {"WWW-Authenticate": "Bearer"}


def owner_hash(key: str) -> str:
    """The ``videogen.dev/owner`` label value of a key's VideoJobs (32 hex: a label value, and not the key)."""
    return hashlib.sha256(b"videogen-api-key\x00" + key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Caller:
    #: The owner label of this caller's VideoJobs; None when authentication is off (one tenant, no label).
    owner: str | None
    #: Sees, cancels and downloads every job, not only its own.
    admin: bool

    def may_see(self, videojob: VideoJob) -> bool:
        return self.admin or videojob.metadata.labels.get(LABEL_OWNER) == self.owner

    @property
    def owner_labels(self) -> dict[str, str]:
        """The labels a VideoJob this caller makes carries."""
        return {LABEL_OWNER: self.owner} if self.owner is not None else {}


#: The caller when authentication is off: everyone is the one tenant and sees everything.
ANONYMOUS: Final = Caller(owner=None, admin=True)


@dataclass(frozen=True)
class ApiKeys:
    #: (key, caller) pairs; empty when authentication is off.
    keys: tuple[tuple[bytes, Caller], ...]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def identify(self, headers: Mapping[str, str]) -> Caller:
        """The caller a request's headers prove (X-API-Key, or Authorization: Bearer); raises 401 otherwise."""
        if not self.keys:
            return ANONYMOUS
        presented = headers.get("x-api-key")
        if presented is None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            presented = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        if presented is None:
            raise ApiError(401, "An API key is required: send it in the X-API-Key header", _UNAUTHORIZED_HEADERS)
        # Compare against every key without stopping early, so the timing does not tell which key came close.
        found: Caller | None = None
        for key, caller in self.keys:
            if hmac.compare_digest(presented.encode(), key):
                found = caller
        if found is None:
            raise ApiError(401, "The API key is not valid", _UNAUTHORIZED_HEADERS)
        return found


def load_api_keys(settings: ApiSettings) -> ApiKeys:
    """The keys the settings give; raises ConfigurationError (naming the setting) where they give none or a
    broken one, unless authentication is explicitly off."""
    entries = [(key.get_secret_value(), "VIDEOGEN_API_API_KEYS") for key in settings.api_keys]
    path = settings.api_keys_file
    if path is not None:
        try:
            text = path.read_text()
        except (OSError, UnicodeError) as exc:
            raise ConfigurationError(
                f"VIDEOGEN_API_API_KEYS_FILE={path} cannot be read ({exc}); mount the API key Secret there"
            ) from None
        lines = [line.strip() for line in text.splitlines()]
        from_file = [(line, f"line {number} of VIDEOGEN_API_API_KEYS_FILE") for number, line in enumerate(lines, 1)]
        if not any(line for line, _ in from_file):
            raise ConfigurationError(
                f"VIDEOGEN_API_API_KEYS_FILE={path} holds no API key (one key per line); an empty file does not "
                "turn authentication off: set VIDEOGEN_API_AUTH_DISABLED=true for that"
            )
        entries += [(line, where) for line, where in from_file if line]
    if settings.auth_disabled:
        if entries:
            raise ConfigurationError(
                "VIDEOGEN_API_AUTH_DISABLED=true and API keys are given: remove the keys or the setting"
            )
        return ApiKeys(())
    if not entries:
        raise ConfigurationError(
            "no API key: set VIDEOGEN_API_API_KEYS or VIDEOGEN_API_API_KEYS_FILE, or VIDEOGEN_API_AUTH_DISABLED=true "
            "to serve without authentication"
        )
    return ApiKeys(tuple(_parse_entry(entry, where) for entry, where in entries))


def _parse_entry(entry: str, where: str) -> tuple[bytes, Caller]:
    # The messages name where the entry is, never the entry: it holds a key.
    parts = entry.split()
    if len(parts) > 2 or (len(parts) == 2 and parts[1] != ADMIN_ROLE):
        raise ConfigurationError(f"{where}: an entry is '<key>' or '<key> {ADMIN_ROLE}'")
    key = parts[0]
    return key.encode(), Caller(owner=owner_hash(key), admin=len(parts) == 2)
