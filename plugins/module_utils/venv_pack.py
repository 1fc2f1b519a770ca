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
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# What a venv writes its own path into, besides the #! lines of bin/.
_ACTIVATE_SCRIPTS = ("activate", "activate.csh", "activate.fish", "Activate.ps1")
# The pack's format is in its name: a controller keeps packs across rayfleet releases, and a
# pack of another format (one without the venv's manifest, say) must not be taken for this one.
PACK_SUFFIX = ".venv-2.tar.gz"
_SSH_NOTICE = re.compile(r"^(Shared connection|Connection) to \S+ closed\.$")
# Unpacked beside the venv and swapped in whole, so a venv is never half one release and half
# another, and nothing of an older venv lingers; a failed or cut-off unpack leaves the old one.
# The pack, in the connecting user's temporary directory, is made root's (``owner``'s) and
# moved beside the venv before it is checked against the controller's sha256 and unpacked.
# What the ray_autoscaler role put into the old venv (rayfleet.pth, the provider's path) comes
# along, as it did when pip upgraded the venv in place: a run cut short before that role writes
# it again leaves the head's autoscaler working. The venv's parent is made where it is missing
# (the ray role's node files set it as it should be either way). ``$venv.tar.gz`` is where
# earlier releases copied the pack.
_SWAP_SCRIPT = """\
venv=$1 pack=$2 sha256=$3 owner=$4 group=$5
parent=${venv%/*}
if [ ! -d "$parent" ]; then
  (umask 022; mkdir -p "$parent"); chown "$owner:$group" "$parent"; chmod 0755 "$parent"
fi
trap 'if [ ! -e "$venv" ] && [ -e "$venv.old" ]; then mv "$venv.old" "$venv"; fi
rm -rf "$venv.new" "$venv.pack"' EXIT
trap 'exit 1' HUP INT TERM
rm -rf "$venv.new" "$venv.old" "$venv.pack" "$venv.tar.gz"
chown "$owner" "$pack"; chmod 0600 "$pack"; mv "$pack" "$venv.pack"
if ! echo "$sha256  $venv.pack" | sha256sum --check --status; then
  echo "the pack on the host is not the controller's (its sha256 differs)" >&2; exit 1
fi
mkdir -m 0755 "$venv.new"
tar -xzf "$venv.pack" -C "$venv.new"
for kept in "$venv"/lib/python*/site-packages/rayfleet.pth; do
  target="$venv.new/${kept#"$venv"/}"
  if [ -f "$kept" ] && [ -d "${target%/*}" ]; then cp -p "$kept" "$target"; fi
done
if [ -e "$venv" ]; then mv "$venv" "$venv.old"; fi
mv "$venv.new" "$venv"
rm -rf "$venv.old"
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


def swap_command(venv: str, pack: str, sha256: str, owner: str, group: str) -> str:
    """The shell command that unpacks ``pack`` (on the host) and swaps it in as ``venv``."""
    return shlex.join(
        ["/bin/sh", "-ec", _SWAP_SCRIPT, "venv-unpack", venv, pack, sha256, owner, group]
    )


def failure_line(stdout: str, stderr: str) -> str:
    """The last line a failed command printed. Run with become over SSH, a command has a
    terminal (``-tt``), so its errors come on stdout, and SSH's own notice on stderr."""
    lines = [
        line.strip()
        for line in f"{stdout}\n{stderr}".splitlines()
        if line.strip() and not _SSH_NOTICE.match(line.strip())
    ]
    return lines[-1] if lines else "no message"


def _is_text_script(path: Path) -> bool:
    if path.name in _ACTIVATE_SCRIPTS:
        return True
    with path.open("rb") as script:
        return script.read(2) == b"#!"
