"""node_files: a node's directories and files in one call, changing only what differs."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any

from modules import run_module

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
SECRET = "RAY_REDIS_PASSWORD=s3cret-never-shown"


def node(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "directories": [
            {"path": str(tmp_path / "etc"), "owner": USER, "group": GROUP, "mode": "0750"}
        ],
        "files": [
            {
                "path": str(tmp_path / "etc" / "labels.yaml"),
                "content": "zone: a\n",
                "owner": USER,
                "group": GROUP,
                "mode": "0640",
            }
        ],
        "secret_files": [
            {
                "path": str(tmp_path / "etc" / "secrets.env"),
                "content": SECRET,
                "owner": USER,
                "group": GROUP,
                "mode": "0600",
            }
        ],
    }
    return args | overrides


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_run_makes_everything_and_the_second_changes_nothing(tmp_path: Path) -> None:
    first, _ = run_module("node_files", **node(tmp_path))
    assert first["changed"]
    assert [change["changes"] for change in first["changes"]] == [["missing"]] * 3
    assert mode_of(tmp_path / "etc") == 0o750
    assert (tmp_path / "etc" / "labels.yaml").read_text() == "zone: a\n"
    assert mode_of(tmp_path / "etc" / "secrets.env") == 0o600
    second, _ = run_module("node_files", **node(tmp_path))
    assert not second["changed"] and second["changes"] == []


def test_only_what_differs_is_reported_and_fixed(tmp_path: Path) -> None:
    run_module("node_files", **node(tmp_path))
    (tmp_path / "etc" / "labels.yaml").chmod(0o644)
    (tmp_path / "etc" / "secrets.env").write_text("RAY_REDIS_PASSWORD=old")
    result, _ = run_module("node_files", **node(tmp_path))
    assert {Path(c["path"]).name: c["changes"] for c in result["changes"]} == {
        "labels.yaml": ["mode"],
        "secrets.env": ["content"],
    }
    assert mode_of(tmp_path / "etc" / "labels.yaml") == 0o640
    assert (tmp_path / "etc" / "secrets.env").read_text() == SECRET


def test_check_mode_reports_and_changes_nothing(tmp_path: Path) -> None:
    result, _ = run_module("node_files", _ansible_check_mode=True, **node(tmp_path))
    assert result["changed"]
    assert not (tmp_path / "etc").exists()


def test_diff_shows_files_and_never_a_secret(tmp_path: Path) -> None:
    run_module("node_files", **node(tmp_path))
    changed = node(tmp_path)
    changed["files"][0]["content"] = "zone: b\n"
    changed["secret_files"][0]["content"] = "RAY_REDIS_PASSWORD=another-secret"
    result, output = run_module("node_files", _ansible_diff=True, **changed)
    assert result["diff"] == [
        {
            "before_header": str(tmp_path / "etc" / "labels.yaml"),
            "after_header": str(tmp_path / "etc" / "labels.yaml"),
            "before": "zone: a\n",
            "after": "zone: b\n",
        }
    ]
    assert "another-secret" not in output and "s3cret" not in output


def test_absent_files_and_directories_go(tmp_path: Path) -> None:
    stale = tmp_path / "ca.pem"
    stale.write_text("old CA")
    stale_dir = tmp_path / "old-certs"
    (stale_dir / "inner").mkdir(parents=True)
    result, _ = run_module(
        "node_files", absent=[str(stale), str(stale_dir), str(tmp_path / "never-there")]
    )
    assert result["changes"] == [
        {"path": str(stale), "changes": ["absent"]},
        {"path": str(stale_dir), "changes": ["absent"]},
    ]
    assert not stale.exists() and not stale_dir.exists()


def test_an_owner_that_does_not_exist_fails_naming_the_path_but_is_a_change_in_check_mode(
    tmp_path: Path,
) -> None:
    args = node(tmp_path)
    args["directories"][0]["owner"] = "rayfleet-no-such-user"
    failed, _ = run_module("node_files", **args)
    assert (
        failed["failed"] and failed["msg"] == f"{tmp_path / 'etc'}: no user rayfleet-no-such-user"
    )
    checked, _ = run_module("node_files", _ansible_check_mode=True, **args)
    assert not checked.get("failed") and checked["changed"]


def test_a_directory_where_a_file_belongs_fails(tmp_path: Path) -> None:
    (tmp_path / "etc" / "labels.yaml").mkdir(parents=True)
    result, _ = run_module("node_files", **node(tmp_path))
    assert result["failed"] and result["msg"].endswith("labels.yaml: is not a file")


def test_a_link_in_place_of_a_directory_is_refused_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    (tmp_path / "etc").symlink_to(target)
    result, _ = run_module("node_files", directories=node(tmp_path)["directories"])
    assert result["failed"] and result["msg"].endswith("etc: is not a directory")
    assert mode_of(target) == 0o755
