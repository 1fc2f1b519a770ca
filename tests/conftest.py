"""Shared fixtures; puts this tree's collection first on sys.path (mutate.py tests a copy)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.rayfleet.cluster.plugins.module_utils.provider_section import (
    SECTION,
    ProviderNode,
    ProviderSection,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS_PATH = REPO_ROOT / ".ansible" / "collections"

if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The root of the checkout: the rayfleet.cluster collection and the rayfleet package."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def ray_role_options() -> dict[str, dict[str, Any]]:
    """Every option of the roles that take a node's ray_* settings, as validation reads them.

    Imported here, once sys.path leads to this tree: mutate.py's copy must test its own code.
    """
    action = importlib.import_module(
        "ansible_collections.rayfleet.cluster.plugins.action.validate_inventory"
    )
    options: dict[str, dict[str, Any]] = {}
    for role in action.ROLES_WITH_RAY_VARS:
        options.update(action.role_argument_spec(role))
    return options


def _write_autoscaling_config(tmp_path: Path, **extra: Any) -> Path:
    """Ray's autoscaling config of a head and two pool hosts, with ``extra`` provider settings."""
    path = tmp_path / "autoscaling.yaml"
    section = ProviderSection(
        state_dir=str(tmp_path / "state"),
        ansible_config="/etc/rayfleet/autoscaler/ansible.cfg",
        socket="/run/rayfleet/provisioner.sock",
        inventory="/etc/rayfleet/autoscaler/inventory.yml",
        head=ProviderNode("head", "head", "10.0.0.10"),
        pool=(
            ProviderNode("small-1", "small", "10.0.0.21"),
            ProviderNode("small-2", "small", "10.0.0.22"),
        ),
        quarantine_base_s=60,
        quarantine_max_s=3600,
        playbook_timeout_s=600,
    ).to_dict()
    provider = {SECTION: section | extra}
    path.write_text(yaml.safe_dump({"cluster_name": "lab", "provider": provider}))
    return path


@pytest.fixture(scope="session")
def write_autoscaling_config() -> Callable[..., Path]:
    """Writes Ray's autoscaling config of a head and two pool hosts (see above)."""
    return _write_autoscaling_config
