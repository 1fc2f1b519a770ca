"""A join or leave by hand lands in the pool state and the members inventory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayfleet.autoscaler.record import main
from rayfleet.autoscaler.state import StateStore, Status


@pytest.fixture
def config(tmp_path: Path, write_autoscaling_config: Callable[..., Path]) -> Path:
    return write_autoscaling_config(tmp_path)


def record(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["--config", str(config), *args]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_a_join_by_hand_gets_a_node_id_and_is_listed(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    launched = record(config, capsys, "launching", "small-1")
    assert launched["node_ids"] == {"small-1": "small-1-1"}
    assert launched["changed"]
    joined = record(config, capsys, "running", "small-1")
    assert joined["statuses"] == {"small-1": "running"}
    members = yaml.safe_load((tmp_path / "state" / "members.yml").read_text())
    assert members["all"]["children"]["small"]["hosts"] == {"small-1": {}}
    # Joining a member again keeps its id and changes nothing.
    again = record(config, capsys, "launching", "small-1")
    assert (again["node_ids"], again["changed"]) == ({"small-1": "small-1-1"}, False)


def test_a_leave_by_hand_frees_the_host(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(config, capsys, "launching", "small-1")
    record(config, capsys, "running", "small-1")
    record(config, capsys, "free", "small-1")
    assert StateStore(tmp_path / "state").read()["small-1"].status is Status.FREE
    members = yaml.safe_load((tmp_path / "state" / "members.yml").read_text())
    assert members["all"]["children"]["ray_pool_members"]["hosts"] == {}


def test_only_pool_hosts_are_recorded(config: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--config", str(config), "running", "cpu-1"])
