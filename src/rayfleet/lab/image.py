"""Builds the lab's base image: Debian 12 with systemd and sshd, from debootstrap.

No registry image can be pulled here, so the image is made from a local
debootstrap and cached in podman's storage; it is rebuilt only when missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from rayfleet.lab.podman import Podman

IMAGE = "localhost/rayfleet-lab:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "python3-venv",
    "iproute2",
    "sudo",
    "procps",
    "ca-certificates",
)
# Units that fail or make no sense in a container and would keep
# `systemctl is-system-running` from reporting "running".
MASKED_UNITS = (
    "systemd-logind.service",
    "getty.target",
    "console-getty.service",
    "systemd-udevd.service",
    "systemd-remount-fs.service",
)


def image_exists(podman: Podman) -> bool:
    return podman.succeeds("image", "exists", IMAGE)


def ensure_image(podman: Podman, mirror: str = DEBIAN_MIRROR) -> bool:
    """Build the lab image unless it is cached. Returns True when it was built."""
    if image_exists(podman):
        return False
    with tempfile.TemporaryDirectory(prefix="rayfleet-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                "bookworm",
                str(rootfs),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        customize_rootfs(rootfs)
        podman.import_tarball(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
            IMAGE,
            ['CMD ["/sbin/init"]', "STOPSIGNAL SIGRTMIN+3"],
        )
    return True


def customize_rootfs(rootfs: Path) -> None:
    """Enable sshd, mask container-hostile units, and prepare root's SSH dir."""
    subprocess.run(
        ["systemctl", f"--root={rootfs}", "mask", *MASKED_UNITS],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["systemctl", f"--root={rootfs}", "enable", "ssh.service"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["chroot", str(rootfs), "ssh-keygen", "-A"], check=True, capture_output=True)
    sshd_conf = resources.files("rayfleet.lab") / "data" / "sshd-lab.conf"
    shutil.copyfile(str(sshd_conf), rootfs / "etc/ssh/sshd_config.d/rayfleet-lab.conf")
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    # apt caches and docs are dead weight in every lab host.
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
