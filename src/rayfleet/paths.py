"""Where the rayfleet.cluster collection (playbooks, roles, inventories) lives."""

from __future__ import annotations

import os
from pathlib import Path


def collection_root() -> Path:
    """The checkout that holds galaxy.yml: $RAYFLEET_COLLECTION_ROOT, or this source tree."""
    configured = os.environ.get("RAYFLEET_COLLECTION_ROOT")
    if configured:
        return Path(configured).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "galaxy.yml").is_file():
            return parent
    raise FileNotFoundError(
        "rayfleet.cluster not found: set RAYFLEET_COLLECTION_ROOT to the collection's directory"
    )
