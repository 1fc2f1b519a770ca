"""Names shared by the collection and the rayfleet package are stated once, in names.py."""

from __future__ import annotations

import ast
from pathlib import Path

from ansible_collections.rayfleet.cluster.plugins.module_utils import names

# Only the distinctive ones: "ray", "node" or "redis" are words of other meanings too.
SHARED = {
    value
    for key, value in vars(names).items()
    if key.isupper() and isinstance(value, str) and ("_" in value or "/" in value)
}


def string_literals(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_no_python_file_but_names_py_spells_a_shared_name(repo_root: Path) -> None:
    """Tests may: they state what a user's inventory says."""
    assert {"ray_pool_members", "rayfleet_node_id", "/var/lib/rayfleet/prometheus"} <= SHARED
    sources = [
        path for part in ("src", "plugins", "bench") for path in (repo_root / part).rglob("*.py")
    ]
    spelled = {
        f"{path.relative_to(repo_root)}: {value}"
        for path in sources
        if path.name != "names.py"
        for value in string_literals(path) & SHARED
    }
    assert spelled == set()
