"""`rayfleet lab up` and `down`: lab hosts, a full deploy, a sample job, the dashboard."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from rayfleet.auth import client_environment, shell_prefix
from rayfleet.lab.hosts import (
    LabHost,
    LabNetwork,
    create_host,
    destroy_hosts,
    ensure_network,
    ensure_ssh_key,
    wait_for_ssh,
)
from rayfleet.lab.image import ensure_image, image_exists
from rayfleet.lab.inventory import read_lab_inventory
from rayfleet.lab.podman import Podman
from rayfleet.runner import deploy

STATE_DIR = Path.home() / ".cache" / "rayfleet" / "lab"
DASHBOARD_PORT = 8265
PROMETHEUS_PORT = 9090


def start_hosts(network: LabNetwork, hosts: list[LabHost]) -> None:
    """Lab hosts up and SSH-ready, building the image first if it is missing."""
    podman = Podman()
    if not image_exists(podman):
        print("Building the lab image (once, about 1 to 2 minutes)...", flush=True)
    ensure_image(podman)
    public_key = ensure_ssh_key(STATE_DIR).with_suffix(".pub")
    ensure_network(podman, network)
    for host in hosts:
        create_host(podman, network, host, public_key)
    wait_for_ssh(hosts)


def stop_hosts(network: str) -> list[str]:
    return destroy_hosts(Podman(), network)


def submit_sample_job(head: LabHost, token_file: Path) -> int:
    """Submit jobs/which_nodes.py through the dashboard's job API, with the token, and wait."""
    with tempfile.TemporaryDirectory(prefix="rayfleet-job-") as workdir:
        script = resources.files("rayfleet.jobs") / "which_nodes.py"
        shutil.copyfile(str(script), Path(workdir) / "which_nodes.py")
        return subprocess.run(
            [
                str(Path(sys.executable).with_name("ray")),
                "job",
                "submit",
                f"--address=http://{head.address}:{DASHBOARD_PORT}",
                f"--working-dir={workdir}",
                "--",
                "python",
                "which_nodes.py",
            ],
            env={**os.environ, **client_environment(token_file)},
            check=False,
        ).returncode


def lab_up(inventory: Path) -> int:
    lab = read_lab_inventory(inventory)
    started = time.monotonic()
    start_hosts(lab.network, lab.hosts)
    print(f"{len(lab.hosts)} lab hosts up in {time.monotonic() - started:.0f}s", flush=True)
    deployed = time.monotonic()
    result = deploy(inventory)
    if not result.ok:
        print(f"Deploy failed ({result.status}); see the output above.", file=sys.stderr)
        return result.rc
    print(f"Deployed in {time.monotonic() - deployed:.0f}s; submitting a sample job...", flush=True)
    rc = submit_sample_job(lab.head, lab.token_file)
    dashboard = f"http://{lab.head.address}:{DASHBOARD_PORT}"
    print(
        f"\nRay dashboard: {dashboard}\n"
        f"From another machine: ssh -L {DASHBOARD_PORT}:{lab.head.address}:{DASHBOARD_PORT} "
        f"root@<this machine>, then open http://localhost:{DASHBOARD_PORT}\n"
        "The dashboard and every Ray endpoint want the cluster's token (RAY_AUTH_MODE=token).\n"
        f"Submit jobs: {shell_prefix(lab.token_file)} \\\n"
        f"  ray job submit --address {dashboard} -- python -c 'import ray; ray.init()'\n"
        f"In a browser, the dashboard asks for the token: {lab.token_file}\n"
        "Autoscaling: a task that needs {'pool_warm': 1} or {'pool_cold': 1} brings pool-1 or\n"
        "pool-2 in; a minute idle sends it back (/var/lib/rayfleet/autoscaler/ on the head).\n"
        f"Prometheus: http://{lab.head.address}:{PROMETHEUS_PORT} (targets, alerts); Grafana's\n"
        "provisioning is in /etc/grafana on the head (no Grafana package is reachable here).\n"
        f"Health, one line per node: rayfleet health -i {inventory}\n"
        f"Remove the lab: make lab-down"
    )
    return rc


def lab_down(inventory: Path) -> int:
    lab = read_lab_inventory(inventory)
    removed = stop_hosts(lab.network.name)
    print(f"Removed {len(removed)} lab hosts: {', '.join(removed) or 'none'}")
    return 0
