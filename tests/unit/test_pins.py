"""Each version pin is stated once, and the pins that must agree do."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

# Where the Ray pin is stated: the role's default, and its argument spec, which
# test_argument_specs.py holds equal to the defaults.
RAY_PIN_SOURCES = {"roles/ray/defaults/main.yml", "roles/ray/meta/argument_specs.yml"}


def _yaml(repo_root: Path, path: str) -> Any:
    return yaml.safe_load((repo_root / path).read_text())


def _tracked_files(repo_root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=repo_root, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_the_ray_release_is_written_only_where_it_is_pinned(repo_root: Path) -> None:
    pin = _yaml(repo_root, "roles/ray/defaults/main.yml")["ray_version"]
    # Unit tests may use any release as data, the changelog names releases, and benchmark
    # results the release they measured; everything else reads the pin.
    written = {
        path
        for path in _tracked_files(repo_root)
        if not path.startswith(("tests/", "bench/results/"))
        and path != "CHANGELOG.md"
        and (repo_root / path).is_file()
        and pin in (repo_root / path).read_text(errors="replace")
    }
    assert written == RAY_PIN_SOURCES


def test_the_head_runs_an_ansible_core_the_collection_supports(repo_root: Path) -> None:
    supported = SpecifierSet(_yaml(repo_root, "meta/runtime.yml")["requires_ansible"])
    head = {
        requirement.name: requirement.specifier
        for requirement in map(
            Requirement, _yaml(repo_root, "roles/ray/vars/main.yml")["_ray_provider_requirements"]
        )
    }
    (pinned,) = (spec.version for spec in head["ansible-core"] if spec.operator == "==")
    assert supported.contains(pinned)
