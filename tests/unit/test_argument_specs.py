"""Every role's defaults/main.yml and meta/argument_specs.yml stay in step, and names are prefixed.

Parametrized by role: a new role with a meta/argument_specs.yml is covered without a change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLES_DIR = REPO_ROOT / "roles"
ROLES = sorted(spec.parents[1].name for spec in ROLES_DIR.glob("*/meta/argument_specs.yml"))
ROLES_WITH_VARS = [role for role in ROLES if (ROLES_DIR / role / "vars" / "main.yml").is_file()]


class AnsibleVarsLoader(yaml.SafeLoader):
    """Reads Ansible's !unsafe values (strings Ansible does not template) as plain ones."""


AnsibleVarsLoader.add_constructor(
    "!unsafe",
    lambda loader, node: (
        loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)  # type: ignore[arg-type]
    ),
)


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping; an absent or empty file is an empty mapping."""
    if not path.is_file():
        return {}
    data = yaml.load(path.read_text(), Loader=AnsibleVarsLoader)
    if data is None:
        return {}
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def options_of(role: str) -> dict[str, dict[str, Any]]:
    spec = load_yaml(ROLES_DIR / role / "meta" / "argument_specs.yml")
    assert "main" in spec.get("argument_specs", {}), f"{role} has no `main` entry point"
    options: dict[str, dict[str, Any]] = spec["argument_specs"]["main"].get("options") or {}
    return options


def defaults_of(role: str) -> dict[str, Any]:
    return load_yaml(ROLES_DIR / role / "defaults" / "main.yml")


def vars_of(role: str) -> dict[str, Any]:
    return load_yaml(ROLES_DIR / role / "vars" / "main.yml")


def test_roles_are_found() -> None:
    # Guards against a glob that silently matches nothing and leaves every test below empty.
    assert "ray" in ROLES
    assert "ray" in ROLES_WITH_VARS


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option(role: str) -> None:
    undocumented = sorted(set(defaults_of(role)) - set(options_of(role)))
    assert undocumented == [], (
        f"roles/{role}/defaults/main.yml sets variables that meta/argument_specs.yml "
        f"does not document: {undocumented}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_description(role: str) -> None:
    missing = sorted(
        name for name, option in options_of(role).items() if not (option or {}).get("description")
    )
    assert missing == [], f"options of role {role} without a description: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_default_equals_role_default(role: str) -> None:
    defaults = defaults_of(role)
    mismatches = []
    for name, spec in sorted(options_of(role).items()):
        option = spec or {}
        if name not in defaults:
            if not option.get("required", False):
                mismatches.append(f"{name}: optional but missing from defaults/main.yml")
            continue
        expected = option.get("default")
        actual = defaults[name]
        # The type matters too: 1 == True and 0 == 0.0 in Python, but not to the role.
        if (type(actual), actual) != (type(expected), expected):
            mismatches.append(
                f"{name}: argument_specs default {expected!r}, defaults/main.yml {actual!r}"
            )
    assert mismatches == [], f"role {role}:\n" + "\n".join(mismatches)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_prefixed_with_the_role_name(role: str) -> None:
    unprefixed = sorted(name for name in defaults_of(role) if not name.startswith(f"{role}_"))
    assert unprefixed == [], f"roles/{role}/defaults/main.yml: not {role}_*: {unprefixed}"


@pytest.mark.parametrize("role", ROLES_WITH_VARS)
def test_vars_are_prefixed_with_underscore_and_role_name(role: str) -> None:
    unprefixed = sorted(name for name in vars_of(role) if not name.startswith(f"_{role}_"))
    assert unprefixed == [], f"roles/{role}/vars/main.yml: not _{role}_*: {unprefixed}"
