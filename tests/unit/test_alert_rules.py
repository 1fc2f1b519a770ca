"""The alert rules as the prometheus role renders them: promtool accepts them, and each alert
fires (and stays quiet) as tests/prometheus/rayfleet-alerts.test.yml expects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import comment

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "prometheus"
RULES_TEST = REPO_ROOT / "tests" / "prometheus" / "rayfleet-alerts.test.yml"
# `make venv` puts Debian's promtool beside the venv's Python.
PROMTOOL = shutil.which("promtool", path=str(Path(sys.executable).parent)) or "promtool"


def render_rules(directory: Path, **overrides: object) -> Path:
    """The rules file with the role's defaults, rendered as Ansible's template module does."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True
    )
    environment.filters["comment"] = comment
    template = environment.from_string((ROLE / "templates" / "rayfleet-alerts.yml.j2").read_text())
    path = directory / "rayfleet-alerts.yml"
    path.write_text(template.render(ansible_managed="Ansible managed", **{**defaults, **overrides}))
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    result = promtool("check", "rules", str(render_rules(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_every_alert_fires_as_its_unit_test_expects(tmp_path: Path) -> None:
    render_rules(tmp_path)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = promtool("test", "rules", str(tmp_path / RULES_TEST.name))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("override", "alert"),
    [
        ({"prometheus_alert_disk_free_ratio": 0.01}, "DiskAlmostFull"),
        ({"prometheus_alert_gcs_event_loop_lag_ms": 10000}, "RayGcsUnhealthy"),
        ({"prometheus_alert_gpu_temperature_celsius": 95}, "GpuOverheating"),
    ],
)
def test_thresholds_move_the_alerts(tmp_path: Path, override: dict[str, float], alert: str) -> None:
    # With the threshold moved past the test's data, the alert the unit test expects stays quiet.
    render_rules(tmp_path, **override)
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    result = promtool("test", "rules", str(tmp_path / RULES_TEST.name))
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr
