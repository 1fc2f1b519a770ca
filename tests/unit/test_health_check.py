"""The health check through ansible-runner (rayfleet.runner.health) against a cluster that is down.

A real run of playbooks/health.yml and the ray_health module on this machine: nothing listens
on the ports it asks, so every node is unhealthy, each on its own line.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import yaml

from rayfleet.runner import health


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_cluster_that_is_down_is_unhealthy_node_by_node(tmp_path: Path) -> None:
    # The module runs with Ray's venv's Python on the head: here, this test's own.
    venv_bin = tmp_path / "ray" / "2.60.0" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    ports = {
        "ray_dashboard_port": free_port(),
        "ray_metrics_export_port": free_port(),
        "ray_dashboard_agent_listen_port": free_port(),
    }
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "ray_node_ip": "127.0.0.1",
                "ray_monitoring": False,
                # No token on this machine: /etc/ray/auth-token is the nodes'.
                "ray_auth_mode": "disabled",
                "ray_install_dir": str(tmp_path / "ray"),
                **ports,
            }
        },
        "ray_head": {"hosts": {"head-1": {}}},
        "ray_workers": {"children": {"cpu": {"hosts": {"cpu-1": {}}}}},
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))

    report = health(path)

    assert not report.healthy
    by_node = {line.split(" ", 1)[0]: line for line in report.lines}
    assert by_node["head-1"].startswith("head-1 (127.0.0.1): UNHEALTHY: raylet:")
    assert "GCS: " in by_node["head-1"]
    assert "GCS event loop lag: not exported" in by_node["head-1"]
    assert by_node["cpu-1"].startswith("cpu-1 (127.0.0.1): UNHEALTHY: raylet:")
    assert report.lines[-1] == "head-1: Unhealthy: cpu-1, head-1"
