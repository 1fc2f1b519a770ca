"""Creates and destroys lab hosts: systemd containers on a podman network."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rayfleet.lab.image import IMAGE
from rayfleet.lab.podman import Podman

SSH_PORT = 22
CONTAINER_LABEL = "io.rayfleet.lab"
# Mounted into each host: sshd also reads the lab key from outside root's home.
LAB_KEYS_CONF = Path(__file__).parent / "data" / "sshd-lab-keys.conf"


@dataclass(frozen=True)
class LabHost:
    """One lab host: its inventory name and its address on the lab network."""

    name: str
    address: str


@dataclass(frozen=True)
class LabNetwork:
    """A podman bridge network that the lab hosts of one lab share."""

    name: str
    subnet: str

    def container_name(self, host: str) -> str:
        return f"{self.name}-{host}"

    def check_address(self, host: LabHost) -> None:
        if ipaddress.ip_address(host.address) not in ipaddress.ip_network(self.subnet):
            raise ValueError(f"{host.name}: {host.address} is not in {self.subnet}")


def ensure_ssh_key(state_dir: Path) -> Path:
    """The lab's SSH key pair, generated once; returns the private key's path."""
    key = state_dir / "id_ed25519"
    if not key.exists():
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rayfleet-lab", "-f", str(key)],
            check=True,
        )
    return key


def ensure_network(podman: Podman, network: LabNetwork) -> None:
    if not podman.succeeds("network", "exists", network.name):
        podman.run("network", "create", "--subnet", network.subnet, network.name)


def create_host(podman: Podman, network: LabNetwork, host: LabHost, public_key: Path) -> None:
    """Start one host (replacing a stale one of the same name)."""
    network.check_address(host)
    container = network.container_name(host.name)
    podman.run("rm", "--force", "--time", "5", container, check=False)
    podman.run(
        "run",
        "--detach",
        "--systemd=always",
        "--shm-size=512m",
        # rayfleet's firewall loads an nftables table in the host's network namespace.
        "--cap-add=NET_ADMIN",
        "--label",
        f"{CONTAINER_LABEL}={network.name}",
        "--network",
        network.name,
        "--ip",
        host.address,
        "--hostname",
        host.name,
        "--name",
        container,
        "--volume",
        f"{public_key}:/etc/ssh/rayfleet-lab-authorized-keys:ro",
        "--volume",
        f"{LAB_KEYS_CONF}:/etc/ssh/sshd_config.d/rayfleet-lab-keys.conf:ro",
        IMAGE,
    )


def wait_for_ssh(hosts: list[LabHost], timeout: float = 60.0) -> None:
    """Block until every host accepts TCP connections on port 22."""
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        pending = [host for host in pending if not _port_open(host.address, SSH_PORT)]
        if pending and time.monotonic() > deadline:
            names = ", ".join(host.name for host in pending)
            raise TimeoutError(f"no SSH on {names} after {timeout:.0f}s")
        if pending:
            time.sleep(0.2)


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def destroy_hosts(podman: Podman, network: str) -> list[str]:
    """Remove every container of the lab network named ``network``, then the network."""
    names = podman.run(
        "ps",
        "--all",
        "--filter",
        f"label={CONTAINER_LABEL}={network}",
        "--format",
        "{{.Names}}",
    ).split()
    if names:
        podman.run("rm", "--force", "--time", "10", *names)
    podman.run("network", "rm", "--force", network, check=False)
    return names
