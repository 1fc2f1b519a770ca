"""node_files: a node's directories and files in one call, changing only what differs."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Any

from modules import run_module

from ansible_collections.rayfleet.cluster.plugins.filter.text_file import text_file

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


def labels(tmp_path: Path, **fields: Any) -> dict[str, Any]:
    file: dict[str, Any] = node(tmp_path)["files"][0]
    return file | fields


def test_a_create_only_file_keeps_what_another_program_wrote_but_not_its_mode(
    tmp_path: Path,
) -> None:
    joined = labels(tmp_path, content="", create_only=True)
    directories = node(tmp_path)["directories"]
    first, _ = run_module("node_files", directories=directories, files=[joined])
    assert first["changes"][1] == {"path": joined["path"], "changes": ["missing"]}
    Path(joined["path"]).write_text("10.0.0.5\n")
    kept, _ = run_module("node_files", directories=directories, files=[joined])
    assert not kept["changed"] and Path(joined["path"]).read_text() == "10.0.0.5\n"
    Path(joined["path"]).chmod(0o666)
    fixed, _ = run_module("node_files", _ansible_diff=True, directories=directories, files=[joined])
    assert fixed["changes"] == [{"path": joined["path"], "changes": ["mode"]}]
    assert fixed["diff"][0]["after"] == "10.0.0.5\n"
    assert mode_of(Path(joined["path"])) == 0o640


def test_validate_checks_the_new_content_and_a_refusal_leaves_the_old_file(
    tmp_path: Path,
) -> None:
    directories = node(tmp_path)["directories"]
    # grep exits 1 where the content lacks the word.
    good = labels(tmp_path, validate="grep --quiet zone %s")
    written, _ = run_module("node_files", directories=directories, files=[good])
    assert written["changed"] and not written.get("failed")
    bad = good | {"content": "region: b\n"}
    before = labels(tmp_path, path=str(tmp_path / "etc" / "pool"), content="10.0.0.5\n")
    refused, _ = run_module("node_files", directories=directories, files=[before, bad])
    assert refused["failed"] and refused["msg"].startswith(f"{good['path']}: not written: grep")
    # What the call wrote before the refusal is reported, so a user knows it changed.
    assert refused["changed"] and refused["changes"] == [
        {"path": before["path"], "changes": ["missing"]}
    ]
    assert Path(good["path"]).read_text() == "zone: a\n"
    assert sorted(path.name for path in (tmp_path / "etc").iterdir()) == ["labels.yaml", "pool"]
    unnamed, _ = run_module("node_files", files=[good | {"validate": "true"}])
    assert unnamed["failed"] and "%s" in unnamed["msg"]


def test_validate_takes_the_path_as_one_word_and_a_percent_sign_as_itself(
    tmp_path: Path,
) -> None:
    spaced = tmp_path / "with space"
    spaced.mkdir()
    entry = labels(
        tmp_path,
        path=str(spaced / "labels.yaml"),
        validate="sh -c 'test -s \"$1\" && date +%Y >/dev/null' check %s",
    )
    written, _ = run_module("node_files", files=[entry])
    assert written["changed"] and not written.get("failed"), written.get("msg")


def test_a_bundle_s_file_ends_in_the_newline_its_include_dropped() -> None:
    assert text_file("[Unit]") == "[Unit]\n"
    assert text_file("[Unit]\n") == "[Unit]\n"
    assert text_file("") == "\n"
