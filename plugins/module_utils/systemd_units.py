# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""systemd's directory of the units rayfleet installs, and what its links say.

No Ansible imports, so pytest imports it directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# The administrator's units: where the roles install theirs and systemd enables them.
UNIT_DIR = "/etc/systemd/system"


def enabled_units(wants_links: Iterable[str]) -> list[str]:
    """The services enabled under UNIT_DIR, from the paths of its ``.wants`` links."""
    return sorted(
        {
            os.path.basename(path)
            for path in wants_links
            if ".wants/" in path and path.endswith(".service")
        }
    )
