# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Which wheelhouse a host installs Ray from: its name and the platforms pip downloads for.

One wheelhouse per Ray version, Python release, CPU and requirement set: pip resolves
environment markers (python_full_version) against the target's exact Python, and the
requirements' digest keeps two sets apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# manylinux_2_17 is manylinux2014, the oldest tag Ray's and its dependencies' wheels use.
OLDEST_GLIBC_MINOR = 17


@dataclass(frozen=True)
class Wheelhouse:
    tag: str
    platforms: tuple[str, ...]


def glibc_minor(getconf_output: str) -> int:
    """The minor version from `getconf GNU_LIBC_VERSION` (``glibc 2.36`` gives 36)."""
    match = re.fullmatch(r"glibc 2\.(\d+)", getconf_output.strip())
    if match is None:
        raise ValueError(f"not a glibc 2.x version: {getconf_output.strip()!r}")
    return int(match.group(1))


def requirements_digest(requirements: list[str]) -> str:
    """Eight hex digits of the sorted requirements (case-insensitively, like Jinja's sort)."""
    text = " ".join(sorted(requirements, key=str.lower))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


def wheelhouse(
    requirements: list[str],
    *,
    ray_version: str,
    python_version: str,
    architecture: str,
    getconf_output: str,
) -> Wheelhouse:
    """The wheelhouse of a host: its tag, and the manylinux tags its glibc accepts."""
    newest = glibc_minor(getconf_output)
    platforms = (
        *(f"manylinux_2_{minor}_{architecture}" for minor in range(OLDEST_GLIBC_MINOR, newest + 1)),
        f"manylinux2014_{architecture}",
    )
    tag = f"ray-{ray_version}-py{python_version}-{architecture}-{requirements_digest(requirements)}"
    return Wheelhouse(tag=tag, platforms=platforms)
