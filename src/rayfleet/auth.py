"""Where a cluster's Ray token is, and what Ray's clients need in their environment to use it.

The ray role installs the token on every node and keeps the controller's copy beside the
inventory; tests/unit/test_auth_paths.py holds the latter in step with the role's default.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ansible_collections.rayfleet.cluster.plugins.module_utils import names

# On every node: root:ray 0640, the file the node's Ray processes read.
NODE_TOKEN_FILE = Path(names.NODE_TOKEN_FILE)


def controller_token_file(inventory_dir: Path, cluster: str) -> Path:
    """The ray role's default ray_auth_token_file: generated there on the first deploy."""
    return inventory_dir / ".credentials" / f"ray-auth-token-{cluster}"


def client_environment(token_file: Path) -> dict[str, str]:
    """Ray's CLI, job client and drivers send the token in ``token_file`` with these."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}


def shell_prefix(token_file: Path) -> str:
    """The same environment as a command's prefix, for a shell on a node or a controller."""
    settings = client_environment(token_file).items()
    return "env " + " ".join(f"{name}={shlex.quote(value)}" for name, value in settings)
