# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Ray's venv built once on the controller and shipped packed, instead of a pip install per host.

A venv names its own path in its scripts' ``#!`` lines and its activate scripts, and its
interpreter by path. The controller builds it in a staging directory from the hosts'
wheelhouse with the hosts' Python (same path, same release), rewrites the staging path to
the hosts' venv path, and packs it; a host unpacks it where the venv belongs. The pack is
built only where the controller's Python is the hosts' own (same release, CPU and a glibc
at least as new as theirs, so every wheel in their wheelhouse loads): elsewhere each host
installs from the wheelhouse as before.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

# What a venv writes its own path into, besides the #! lines of bin/.
_ACTIVATE_SCRIPTS = ("activate", "activate.csh", "activate.fish", "Activate.ps1")
# The pack's format is in its name: a controller keeps packs across rayfleet releases, and a
# pack of another format (one without the venv's manifest, say) must not be taken for this one.
PACK_SUFFIX = ".venv-2.tar.gz"
# Unpacked beside the venv and swapped in whole, so a venv is never half one release and half
# another, and nothing of an older venv lingers; a failed unpack leaves the old one as it was.
# What the ray_autoscaler role put into the old venv (rayfleet.pth, the provider's path) comes
# along, as it did when pip upgraded the venv in place: a run cut short before that role writes
# it again leaves the head's autoscaler working. The venv's parent is made where it is missing
# (the ray role's node files set it as it should be either way).
_SWAP_SCRIPT = """\
parent=${1%/*}
if [ ! -d "$parent" ]; then mkdir -p -m 0755 "$parent"; chown "$3:$4" "$parent"; fi
trap 'rm -rf "$1.new"' EXIT
rm -rf "$1.new" "$1.old"
mkdir -p -m 0755 "$1.new"
tar -xzf "$2" -C "$1.new"
for kept in "$1"/lib/python*/site-packages/rayfleet.pth; do
  target="$1.new/${kept#"$1"/}"
  if [ -f "$kept" ] && [ -d "${target%/*}" ]; then cp -p "$kept" "$target"; fi
done
if [ -e "$1" ]; then mv "$1" "$1.old"; fi
mv "$1.new" "$1"
rm -rf "$1.old"
"""


@dataclass(frozen=True)
class Interpreter:
    """A Python as the venv sees it: its path, full release, CPU and glibc minor version."""

    path: str
    version: str
    architecture: str
    glibc_minor: int


def pack_name(wheelhouse_tag: str, host: Interpreter, venv: str) -> str:
    """The pack's file name: the wheelhouse (Ray, Python, CPU, requirements), glibc and paths."""
    where = hashlib.sha1(f"{host.path}\0{venv}".encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{wheelhouse_tag}-glibc2.{host.glibc_minor}-{where}{PACK_SUFFIX}"


def mismatch(controller: Interpreter, host: Interpreter) -> str:
    """Why a venv built by the controller's Python would not run on the host; '' if it would."""
    if controller.version != host.version:
        return (
            f"the controller's {controller.path} is Python {controller.version}, "
            f"the hosts' {host.version}"
        )
    if controller.architecture != host.architecture:
        return f"the controller is {controller.architecture}, the hosts {host.architecture}"
    if controller.glibc_minor < host.glibc_minor:
        return (
            f"the controller's glibc 2.{controller.glibc_minor} is older "
            f"than the hosts' 2.{host.glibc_minor}"
        )
    return ""


def relocated(text: bytes, staging: str, venv: str) -> bytes:
    """``text`` with the staging venv's path replaced by the hosts' venv path."""
    return text.replace(staging.encode(), venv.encode())


def files_naming(root: Path) -> list[Path]:
    """The files of a venv that may hold its path: bin/'s scripts and pyvenv.cfg."""
    scripts = [
        path
        for path in sorted((root / "bin").iterdir())
        if path.is_file() and not path.is_symlink() and _is_text_script(path)
    ]
    return [*scripts, root / "pyvenv.cfg"]


def relocate(root: Path, staging: str, venv: str) -> list[Path]:
    """Rewrite ``staging`` to ``venv`` in every file of the venv that names it; the rewritten."""
    rewritten = []
    for path in files_naming(root):
        before = path.read_bytes()
        after = relocated(before, staging, venv)
        if after != before:
            mode = path.stat().st_mode
            path.write_bytes(after)
            os.chmod(path, mode)
            rewritten.append(path)
    return rewritten


def swap_command(venv: str, pack: str, owner: str, group: str) -> str:
    """The shell command that unpacks ``pack`` (on the host) and swaps it in as ``venv``."""
    return shlex.join(["/bin/sh", "-ec", _SWAP_SCRIPT, "venv-unpack", venv, pack, owner, group])


def _is_text_script(path: Path) -> bool:
    if path.name in _ACTIVATE_SCRIPTS:
        return True
    with path.open("rb") as script:
        return script.read(2) == b"#!"
