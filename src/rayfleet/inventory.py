"""Reads an Ansible inventory as `ansible-inventory --list` resolves it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def venv_tool(name: str) -> str:
    """An Ansible command of the Python environment rayfleet runs in."""
    return str(Path(sys.executable).with_name(name))


def list_inventory(inventory: Path) -> dict[str, Any]:
    """Groups and `_meta.hostvars` of the inventory, with group_vars applied."""
    listing: dict[str, Any] = json.loads(
        subprocess.run(
            [venv_tool("ansible-inventory"), "-i", str(inventory), "--list"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    return listing
