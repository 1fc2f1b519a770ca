"""The members' scrape targets follow the pool state: a join adds them, a leave removes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayfleet.autoscaler.record import main

TARGETS: dict[str, Any] = {
    "small-1": {
        "ray": {
            "targets": ["10.0.0.21:8090"],
            "labels": {"host": "small-1", "ray_io_cluster": "lab", "ray_node_type": "small"},
        },
        "node": {
            "targets": ["10.0.0.21:9100"],
            "labels": {"host": "small-1", "ray_io_cluster": "lab"},
        },
    }
}


@pytest.fixture
def config(tmp_path: Path, write_autoscaling_config: Callable[..., Path]) -> Path:
    path = write_autoscaling_config(
        tmp_path,
        prometheus={"dir": str(tmp_path / "prometheus"), "targets": TARGETS},
    )
    (tmp_path / "prometheus").mkdir()
    return path


def targets(tmp_path: Path, job: str) -> list[Any]:
    result: list[Any] = json.loads((tmp_path / "prometheus" / f"{job}.json").read_text())
    return result


def test_a_join_adds_the_members_targets_once_it_ends_and_a_leave_removes_them(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "launching", "small-1"]) == 0
    node_id = json.loads(capsys.readouterr().out)["node_ids"]["small-1"]
    # Joining: its Ray node is not up yet, so Prometheus does not look for it.
    assert targets(tmp_path, "ray") == targets(tmp_path, "node") == []
    assert main(["--config", str(config), "running", "small-1"]) == 0
    ray = targets(tmp_path, "ray")
    assert ray == [
        {
            "targets": ["10.0.0.21:8090"],
            "labels": {**TARGETS["small-1"]["ray"]["labels"], "rayfleet_node_id": node_id},
        }
    ]
    assert targets(tmp_path, "node")[0]["targets"] == ["10.0.0.21:9100"]
    # Readable by Prometheus, which runs as another user.
    assert (tmp_path / "prometheus" / "ray.json").stat().st_mode & 0o777 == 0o644

    assert main(["--config", str(config), "free", "small-1"]) == 0
    assert targets(tmp_path, "ray") == targets(tmp_path, "node") == []


def test_a_member_without_targets_is_not_scraped(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # small-2 belongs to no monitored cluster's targets: nothing to scrape, no error.
    assert main(["--config", str(config), "running", "small-2"]) == 0
    assert targets(tmp_path, "ray") == []


def test_no_files_for_an_unmonitored_cluster(config: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(config.read_text())
    del document["provider"]["rayfleet"]["prometheus"]
    config.write_text(yaml.safe_dump(document))
    assert main(["--config", str(config), "running", "small-1"]) == 0
    assert list((tmp_path / "prometheus").iterdir()) == []
