"""The rayfleet package finds a cluster's token where the ray role puts it."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from rayfleet.auth import controller_token_file


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
