"""The rayfleet package finds a cluster's token where the ray role puts it."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from ansible_collections.rayfleet.cluster.plugins.module_utils import converged
from rayfleet.auth import NODE_TOKEN_FILE, controller_token_file


def role_file(repo_root: Path, part: str) -> dict[str, str]:
    document: dict[str, str] = yaml.safe_load((repo_root / "roles" / "ray" / part).read_text())
    return document


def render(template: str, **variables: str) -> str:
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(template)
        .render(**variables)
    )


def test_the_controller_token_file_is_the_roles_default(repo_root: Path) -> None:
    default = role_file(repo_root, "defaults/main.yml")["ray_auth_token_file"]
    rendered = render(default, inventory_dir="/srv/inv", ray_cluster_name="prod")
    assert Path(rendered) == controller_token_file(Path("/srv/inv"), "prod")


def test_the_node_token_file_is_the_one_the_role_installs(repo_root: Path) -> None:
    internal = role_file(repo_root, "vars/main.yml")
    rendered = render(internal["_ray_auth_token_path"], _ray_config_dir=internal["_ray_config_dir"])
    assert Path(rendered) == NODE_TOKEN_FILE


def test_validation_asks_each_head_with_the_token_file_the_role_installs() -> None:
    # validate.yml's converged check lists the head's ALIVE nodes with it.
    assert Path(converged.NODE_TOKEN_FILE) == NODE_TOKEN_FILE
