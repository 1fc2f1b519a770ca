#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Build Ray's venv once on the controller, from the hosts' wheelhouse, and pack it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: venv_pack
short_description: Build Ray's venv once, on the controller, for hosts to unpack
version_added: "0.5.0"
description:
  - Builds a venv with the hosts' Python from the hosts' wheelhouse in a staging directory
    next to O(dest), rewrites the staging path to O(venv) in its scripts and compiles its
    modules under that path, and packs it into O(dest) (a gzip'd tar). Hosts unpack it at
    O(venv) instead of each running pip.
  - Builds nothing, and says why in RV(reason), where the controller's O(python) is not the
    hosts' own - another release or CPU, or an older glibc; the hosts then install from the
    wheelhouse themselves.
  - Runs on the controller (C(delegate_to=localhost)); an O(dest) that exists is kept.
options:
  wheelhouse:
    description: The unpacked wheelhouse on the controller that pip installs from, offline.
    type: path
    required: true
  requirements:
    description: What pip installs.
    type: list
    elements: str
    required: true
  python:
    description: The hosts' Python (C(ray_python)), which must also be the controller's.
    type: path
    required: true
  python_version:
    description: The hosts' full Python release (C(3.11.2)).
    type: str
    required: true
  architecture:
    description: The hosts' CPU architecture.
    type: str
    required: true
  glibc_minor:
    description: The minor version of the hosts' glibc (C(36) for 2.36).
    type: int
    required: true
  venv:
    description: Where the venv lives on the hosts.
    type: path
    required: true
  dest:
    description: The pack to write (C(module_utils/venv_pack.py) names it).
    type: path
    required: true
  manifest:
    description:
      - A file the pack holds at the venv's top besides (C(name), C(content)), such as the
        record of what the venv was built with.
    type: dict
attributes:
  check_mode:
    support: full
    details: Says whether it would build a pack; builds nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Pack Ray's venv for the hosts
  rayfleet.cluster.venv_pack:
    wheelhouse: ~/.cache/rayfleet/wheelhouse/ray-VERSION-py3.11.2-x86_64-a719a09a
    requirements: "{{ requirements }}"
    python: /usr/bin/python3
    python_version: 3.11.2
    architecture: x86_64
    glibc_minor: 36
    venv: /opt/ray/venv
    # Named by the ray_venv_pack filter.
    dest: "{{ pack_path }}"
  delegate_to: localhost
"""

RETURN = r"""
packed:
  description: Whether O(dest) holds (or, in check mode, would hold) the venv.
  returned: always
  type: bool
reason:
  description: Why nothing was packed, when RV(packed) is false.
  returned: always
  type: str
  sample: the controller's /usr/bin/python3 is Python 3.12.3, the hosts' 3.11.2
"""

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import (
    Interpreter,
    mismatch,
    relocate,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.wheelhouse import glibc_minor

# ensurepip and venv: Debian's python3 lacks them without python3-venv.
_PROBE = (
    "import ensurepip, os, platform, venv; print(platform.python_version()); "
    "print(platform.machine()); print(os.confstr('CS_GNU_LIBC_VERSION'))"
)


def controller_interpreter(module: AnsibleModule, python: str) -> Interpreter | str:
    """The controller's ``python``, or why it cannot build the hosts' venv."""
    if not os.access(python, os.X_OK):
        return f"the controller has no {python}"
    rc, out, err = module.run_command([python, "-c", _PROBE])
    if rc != 0:
        return f"the controller's {python} cannot make venvs: {err.strip().splitlines()[-1:]}"
    version, architecture, libc = out.split("\n")[:3]
    try:
        minor = glibc_minor(libc)
    except ValueError:
        return f"the controller's {python} runs on {libc or 'no glibc'}"
    return Interpreter(python, version, architecture, minor)


class BuildError(Exception):
    """A step of the build failed; the hosts install with pip instead."""


def run(module: AnsibleModule, argv: list[str]) -> None:
    rc, _, err = module.run_command(argv)
    if rc != 0:
        raise BuildError(f"{' '.join(argv[:4])} failed: {err.strip()[-500:]}")


def build(module: AnsibleModule, staging: Path, dest: Path) -> None:
    """The venv at ``staging``, relocated to the hosts' path, packed into ``dest``."""
    params = module.params
    venv = str(staging)
    run(module, [params["python"], "-m", "venv", venv])
    run(
        module,
        [
            f"{venv}/bin/python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
            f"--find-links={params['wheelhouse']}",
            # Compiled below under the hosts' path, which tracebacks and inspect show.
            "--no-compile",
            *params["requirements"],
        ],
    )
    relocate(staging, venv, params["venv"])
    if params["manifest"]:
        (staging / params["manifest"]["name"]).write_text(params["manifest"]["content"])
    # -f: pip and setuptools came compiled from ensurepip, under the staging path.
    run(
        module,
        [
            f"{venv}/bin/python",
            "-m",
            "compileall",
            "-f",
            "-q",
            "-j0",
            "-s",
            venv,
            "-p",
            params["venv"],
            f"{venv}/lib",
        ],
    )
    part = dest.with_name(f".{dest.name}.part")
    # Level 1: the pack is made once and unpacked on every host; gzip, which every host has.
    with tarfile.open(part, "w:gz", compresslevel=1) as pack:
        pack.add(venv, arcname=".", filter=_owned_by_root)
    os.replace(part, dest)


def _owned_by_root(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """Root's, and writable by root alone: the venv's Python also runs as root on the hosts."""
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    member.mode &= ~0o022
    return member


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "wheelhouse": {"type": "path", "required": True},
            "requirements": {"type": "list", "elements": "str", "required": True},
            "python": {"type": "path", "required": True},
            "python_version": {"type": "str", "required": True},
            "architecture": {"type": "str", "required": True},
            "glibc_minor": {"type": "int", "required": True},
            "venv": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "manifest": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    params = module.params
    dest = Path(params["dest"])
    if dest.exists():
        module.exit_json(changed=False, packed=True, reason="")
    hosts = Interpreter(
        params["python"], params["python_version"], params["architecture"], params["glibc_minor"]
    )
    found = controller_interpreter(module, params["python"])
    reason = found if isinstance(found, str) else mismatch(found, hosts)
    if reason:
        module.exit_json(changed=False, packed=False, reason=reason)
    if module.check_mode:
        module.exit_json(changed=True, packed=True, reason="")
    staging = Path(tempfile.mkdtemp(prefix=".venv-", dir=dest.parent))
    # The pack's top directory becomes the venv on the hosts, which the ray user reads.
    staging.chmod(0o755)
    try:
        build(module, staging, dest)
    except BuildError as error:
        module.exit_json(changed=False, packed=False, reason=str(error))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    module.exit_json(changed=True, packed=True, reason="")


if __name__ == "__main__":
    main()
