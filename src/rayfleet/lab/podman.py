"""A thin wrapper around the podman CLI with the lab's own containers.conf."""

from __future__ import annotations

import os
import subprocess
from importlib import resources
from pathlib import Path


class PodmanError(RuntimeError):
    """A podman command failed; the message carries its stderr."""


def containers_conf() -> Path:
    """Path of the containers.conf shipped with rayfleet."""
    return Path(str(resources.files("rayfleet.lab") / "data" / "containers.conf"))


class Podman:
    """Runs podman commands with the lab's runtime settings."""

    def __init__(self, binary: str = "podman") -> None:
        self._binary = binary
        self._env = {**os.environ, "CONTAINERS_CONF": str(containers_conf())}

    def run(self, *args: str, check: bool = True, stdin: bytes | None = None) -> str:
        proc = subprocess.run(
            [self._binary, *args],
            input=stdin,
            capture_output=True,
            env=self._env,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PodmanError(
                f"podman {' '.join(args)} failed ({proc.returncode}): "
                f"{proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout.decode(errors="replace")

    def succeeds(self, *args: str) -> bool:
        """True when the podman command exits 0 (for existence checks)."""
        return (
            subprocess.run(
                [self._binary, *args], capture_output=True, env=self._env, check=False
            ).returncode
            == 0
        )

    def import_tarball(self, tar_command: list[str], image: str, changes: list[str]) -> None:
        """Stream a rootfs tarball from ``tar_command`` into ``podman import``."""
        change_args = [arg for change in changes for arg in ("--change", change)]
        with subprocess.Popen(tar_command, stdout=subprocess.PIPE) as tar:
            proc = subprocess.run(
                [self._binary, "import", *change_args, "-", image],
                stdin=tar.stdout,
                capture_output=True,
                env=self._env,
                check=False,
            )
        if tar.returncode != 0 or proc.returncode != 0:
            raise PodmanError(
                f"podman import {image} failed: {proc.stderr.decode(errors='replace').strip()}"
            )
