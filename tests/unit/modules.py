"""Runs a rayfleet module the way Ansible does: its arguments as JSON on stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def run_module(name: str, **args: Any) -> tuple[dict[str, Any], str]:
    """The module's result, and its raw output (to look for what must never be in it)."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args})
    done = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.rayfleet.cluster.plugins.modules.{name}"],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result, done.stdout + done.stderr
