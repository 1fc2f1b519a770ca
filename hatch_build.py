"""Package metadata from the collection, where each fact is stated once.

The wheel's version is galaxy.yml's; its ansible-core range is the collection's
``requires_ansible``; the collection's own Python requirements are its requirements.txt (what
ansible-builder reads); and its Ray is the cluster's default ``ray_version``: the controller
submits jobs to and talks with the cluster, so it runs the same Ray as the nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface

ROOT = Path(__file__).resolve().parent
# Where the wheel puts the collection: Ansible finds it on sys.path.
COLLECTION_IN_WHEEL = "ansible_collections/rayfleet/cluster"
# The collection's top-level files; its directories are the wheel target's sources.
COLLECTION_FILES = ("galaxy.yml", "README.md", "ansible.cfg")


def collection_pins(root: Path) -> dict[str, Any]:
    """The version, ansible-core requirement, Python requirements and Ray pin of the collection."""

    def read(path: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((root / path).read_text())
        return loaded

    return {
        "version": str(read("galaxy.yml")["version"]),
        "ansible-core": f"ansible-core{read('meta/runtime.yml')['requires_ansible']}",
        "requirements": [
            line.strip()
            for line in (root / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ],
        "ray": f"ray[default]=={read('roles/ray/defaults/main.yml')['ray_version']}",
    }


class CollectionPinsHook(MetadataHookInterface):  # type: ignore[misc]
    def update(self, metadata: dict[str, Any]) -> None:
        pins = collection_pins(ROOT)
        metadata["version"] = pins["version"]
        metadata["dependencies"] = [
            pins["ansible-core"],
            *pins["requirements"],
            *self.config["dependencies"],
            pins["ray"],
        ]


class CollectionFilesHook(BuildHookInterface):  # type: ignore[misc]
    """The collection's top-level files, named one by one, into a wheel.

    Not into an editable one: there the checkout is the collection, and a copy holding only
    these files would be a second, broken rayfleet.cluster on sys.path.
    """

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            for name in COLLECTION_FILES:
                build_data["force_include"][str(ROOT / name)] = f"{COLLECTION_IN_WHEEL}/{name}"
