"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN is YAML that ansible-doc can read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

PLUGINS = sorted((Path(__file__).resolve().parents[2] / "plugins").glob("*/*.py"))
DOC_BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def doc_blocks(path: Path) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            name = getattr(node.targets[0], "id", "")
            if name in DOC_BLOCKS:
                blocks[name] = str(node.value.value)
    return blocks


@pytest.mark.parametrize("path", [p for p in PLUGINS if doc_blocks(p)], ids=lambda p: p.stem)
def test_documentation_parses(path: Path) -> None:
    for name, text in doc_blocks(path).items():
        assert yaml.safe_load(text) is not None, f"{path.name}: {name} is empty"
