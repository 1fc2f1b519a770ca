"""The collection's tarball, what molecule and users install, holds what the checkout runs."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a playbook run of the installed collection reads; the rest is the checkout's tooling.
SHIPPED = ["meta", "playbooks", "plugins", "roles"]


def test_the_tarball_holds_every_tracked_file_of_the_roles_plugins_and_playbooks(
    tmp_path: Path,
) -> None:
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    subprocess.run(
        [str(galaxy), "collection", "build", "--output-path", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (tarball,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(tarball) as archive:
        held = set(archive.getnames())
    tracked = subprocess.run(
        ["git", "ls-files", *SHIPPED], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    assert sorted(set(tracked) - held) == []
