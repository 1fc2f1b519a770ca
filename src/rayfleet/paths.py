"""Where the rayfleet.cluster collection (playbooks, roles, inventories) lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
# Where the rayfleet wheel installs the collection: beside the package, in site-packages.
INSTALLED_COLLECTION = PACKAGE_DIR.parent / "ansible_collections" / "rayfleet" / "cluster"


# Files every form of the collection has: a checkout, the wheel's, an installed tarball's
# (no galaxy.yml there), the head's bundle.
MARKERS = ("meta/runtime.yml", "playbooks/site.yml")


def collection_root() -> Path:
    """The collection: $RAYFLEET_COLLECTION_ROOT, the wheel's, or the one around this package."""
    configured = os.environ.get("RAYFLEET_COLLECTION_ROOT")
    if configured:
        return Path(configured).resolve()
    for candidate in (INSTALLED_COLLECTION, *PACKAGE_DIR.parents):
        if all((candidate / marker).is_file() for marker in MARKERS):
            return candidate
    raise FileNotFoundError(
        "rayfleet.cluster not found: set RAYFLEET_COLLECTION_ROOT to the collection's directory"
    )


def ray_defaults() -> dict[str, Any]:
    """The ray role's defaults, where the Ray pin is stated once."""
    path = collection_root() / "roles" / "ray" / "defaults" / "main.yml"
    defaults: dict[str, Any] = yaml.safe_load(path.read_text())
    return defaults


def node_python() -> str:
    """The Python of Ray's venv on a node that the ray role's defaults installed."""
    defaults = ray_defaults()
    return f"{defaults['ray_install_dir']}/{defaults['ray_version']}/bin/python"
