# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The size of a host's /dev/shm, where Ray's object store lives."""

from __future__ import annotations

import os


def shm_bytes() -> int:
    """The size of /dev/shm in bytes; 0 where there is none."""
    try:
        info = os.statvfs("/dev/shm")
    except OSError:
        return 0
    return info.f_blocks * info.f_frsize
