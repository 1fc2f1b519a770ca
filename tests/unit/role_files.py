"""Loads a Python program a role installs on hosts (roles/*/files) as a module, for its tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load_role_file(role: str, name: str) -> ModuleType:
    """roles/<role>/files/<name>.py, imported under ``name``."""
    spec = importlib.util.spec_from_file_location(name, ROLES / role / "files" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses look their module up while it loads.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
