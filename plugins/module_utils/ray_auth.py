# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Ray's token authentication as rayfleet's own HTTP clients speak it.

Ray (2.59+) wants ``Authorization: Bearer <token>`` on every dashboard and agent endpoint
but its health checks once ``RAY_AUTH_MODE=token``. The modules read the token from the
file the ray role installs on each node, on the host they run on, so the token never
travels through Ansible's arguments, results or logs.
"""

from __future__ import annotations

from pathlib import Path


class TokenError(Exception):
    """The token file is missing, unreadable or empty."""


def read_token(path: str) -> str:
    """The token in ``path``, without surrounding whitespace; TokenError names the file."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise TokenError(f"cannot read Ray's token file {path}: {error.strerror}") from error
    if not token:
        raise TokenError(f"Ray's token file {path} is empty")
    return token


def auth_headers(token_file: str | None) -> dict[str, str]:
    """The header that authenticates a request, or none when the cluster runs without."""
    return {"Authorization": f"Bearer {read_token(token_file)}"} if token_file else {}
