# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Filter that names a host's wheelhouse (module_utils/wheelhouse.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import (
    Interpreter,
    pack_name,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.wheelhouse import (
    glibc_minor,
    wheelhouse,
)

DOCUMENTATION = r"""
name: ray_wheelhouse
short_description: The wheelhouse a host installs Ray's requirements from
description:
  - One wheelhouse per Ray version, Python release, CPU and requirement set, named
    C(ray-VERSION-pyPYTHON-ARCH-DIGEST), where DIGEST is 8 hex digits of the sorted requirements.
  - Its platforms are the manylinux tags the host's glibc accepts, from C(manylinux_2_17)
    (C(manylinux2014)) up to the host's own.
options:
  _input:
    description: The requirements pip installs.
    type: list
    elements: str
    required: true
  ray_version:
    description: The Ray release.
    type: str
    required: true
  python_version:
    description: The full version of the host's Python (C(3.11.2)).
    type: str
    required: true
  architecture:
    description: The host's CPU architecture (C(ansible_facts['architecture'])).
    type: str
    required: true
  getconf_output:
    description: What C(getconf GNU_LIBC_VERSION) printed on the host.
    type: str
    required: true
"""

RETURN = r"""
_value:
  description:
    - C(tag), the wheelhouse's name, and C(platforms), the tags for C(pip download --platform).
  type: dict
"""


def ray_wheelhouse(requirements: list[str], **facts: str) -> dict[str, Any]:
    found = wheelhouse(
        [str(requirement) for requirement in requirements],
        ray_version=str(facts["ray_version"]),
        python_version=str(facts["python_version"]),
        architecture=str(facts["architecture"]),
        getconf_output=str(facts["getconf_output"]),
    )
    return {"tag": found.tag, "platforms": list(found.platforms)}


def ray_venv_pack(host: dict[str, str], wheelhouse_dir: str, tag: str) -> dict[str, Any]:
    """The venv pack a host unpacks (ray_venv_pack): what venv_pack builds it from, and its path.

    ``host`` has python, python_version, architecture, getconf_output and venv.
    """
    interpreter = Interpreter(
        path=str(host["python"]),
        version=str(host["python_version"]),
        architecture=str(host["architecture"]),
        glibc_minor=glibc_minor(str(host["getconf_output"])),
    )
    return {
        "python": interpreter.path,
        "python_version": interpreter.version,
        "architecture": interpreter.architecture,
        "glibc_minor": interpreter.glibc_minor,
        "venv": str(host["venv"]),
        "dir": f"{wheelhouse_dir}/{tag}",
        "path": f"{wheelhouse_dir}/{pack_name(tag, interpreter, str(host['venv']))}",
    }


class FilterModule:
    def filters(self) -> dict[str, Callable[..., dict[str, Any]]]:
        # ray_venv_pack: the pack plugins/modules/venv_pack.py builds for a host.
        return {"ray_wheelhouse": ray_wheelhouse, "ray_venv_pack": ray_venv_pack}
