"""Shared fixtures; puts the linked collection on sys.path for ``ansible_collections`` imports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS_PATH = REPO_ROOT / ".ansible" / "collections"

if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The root of the checkout: the rayfleet.cluster collection and the rayfleet package."""
    return REPO_ROOT
