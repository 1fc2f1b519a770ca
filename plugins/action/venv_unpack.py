# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: the controller's venv pack put on the host and swapped in, in one step.

One file transfer and one command, where a directory task, a copy (a stat, a checksum of the
pack on each side, a second write of it on the host) and a command task took three. The pack
goes to the task's temporary directory; the command, as root, moves it out of the connecting
user's reach and checks it against the controller's digest before unpacking it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import (
    failure_line,
    swap_command,
)


def pack_sha256(path: str) -> str:
    """The pack's sha256, from the note kept beside it while the pack is unchanged: each host's
    task would otherwise read the whole pack again on the controller."""
    info = os.stat(path)
    stamp = f"{info.st_size} {info.st_mtime_ns}"
    note = Path(f"{path}.sha256")
    try:
        digest, noted = note.read_text(encoding="ascii").split(" ", 1)
        if noted.strip() == stamp:
            return digest
    except (OSError, ValueError):
        pass
    hashed = hashlib.sha256()
    with open(path, "rb") as pack:
        while chunk := pack.read(1 << 20):
            hashed.update(chunk)
    # Written whole, then renamed (this run's other hosts may read it meanwhile); where the
    # controller may not write beside the pack, the next run reads the pack again.
    partial = note.with_name(f"{note.name}.{os.getpid()}")
    try:
        partial.write_text(f"{hashed.hexdigest()} {stamp}\n", encoding="ascii")
        partial.replace(note)
    except OSError:
        partial.unlink(missing_ok=True)
    return hashed.hexdigest()


class ActionModule(ActionBase):
    # The base class makes the task's temporary directory, which the pack goes to.
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "pack": {"type": "path", "required": True},
                "venv": {"type": "str", "required": True},
                "owner": {"type": "str", "default": "root"},
                "group": {"type": "str", "required": True},
            }
        )
        pack, venv = args["pack"], posixpath.normpath(args["venv"])
        try:
            if not posixpath.isabs(venv) or venv.count("/") < 2:
                result |= {
                    "failed": True,
                    "msg": f"venv must be an absolute path below a directory, not {args['venv']!r}",
                }
                return result
            if not os.path.isfile(pack):
                result |= {"failed": True, "msg": f"the venv pack {pack} is not on the controller"}
                return result
            result |= {"changed": True, "venv": venv}
            if self._task.check_mode:
                result["msg"] = f"{venv} would be replaced by {os.path.basename(pack)}"
                return result
            remote_pack = self._connection._shell.join_path(
                self._connection._shell.tmpdir, os.path.basename(pack)
            )
            self._transfer_file(pack, remote_pack)
            self._fixup_perms2((self._connection._shell.tmpdir, remote_pack), execute=False)
            command = swap_command(
                venv, remote_pack, pack_sha256(pack), args["owner"], args["group"]
            )
            done = self._low_level_execute_command(command, sudoable=True)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if done["rc"] != 0:
            result |= {
                "failed": True,
                "changed": False,
                "rc": done["rc"],
                "stdout": done.get("stdout", ""),
                "stderr": done.get("stderr", ""),
                "msg": f"{venv} was left as it was: unpacking {os.path.basename(pack)} failed: "
                + failure_line(done.get("stdout", ""), done.get("stderr", "")),
            }
        return result
