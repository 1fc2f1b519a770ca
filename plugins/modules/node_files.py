#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Put a node's directories and files in place in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_files
short_description: Put a node's directories and files in place in one call
version_added: "0.5.0"
description:
  - Makes each directory of O(directories), writes each file of O(files) and O(secret_files),
    and removes each path of O(absent), changing only what differs in content, owner, group or
    mode. One round trip per host, where a template or file task per path costs one or two.
  - Files are replaced whole (a temporary file, owned and moded first, renamed over the old).
  - The content of O(secret_files) is never returned, logged or shown in C(--diff).
options:
  directories:
    description: Directories to make or fix, in order (parents first).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: The directory., type: path, required: true}
      owner: {description: Its owner., type: str, required: true}
      group: {description: Its group., type: str, required: true}
      mode: {description: Its mode in octal (C(0750))., type: str, required: true}
  files:
    description: Files to write or fix; their content shows in C(--diff).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: The file., type: path, required: true}
      content: {description: What it holds., type: str, required: true}
      owner: {description: Its owner., type: str, required: true}
      group: {description: Its group., type: str, required: true}
      mode: {description: Its mode in octal (C(0640))., type: str, required: true}
      create_only:
        description:
          - Write the content only where the file is missing (another program keeps it from
            then on); its owner and mode are still fixed.
        type: bool
        default: false
      validate:
        description:
          - A command run on the new content before it replaces the file, the word C(%s)
            standing for the path of a temporary file beside it (the command is split into
            words as a shell would, and run without one). Where it fails, the file stays as it
            was and the task fails with the command's output and the paths written before it.
        type: str
  secret_files:
    description: Files whose content is secret.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: The file., type: path, required: true}
      content: {description: What it holds., type: str, required: true, no_log: true}
      owner: {description: Its owner., type: str, required: true}
      group: {description: Its group., type: str, required: true}
      mode: {description: Its mode in octal (C(0600))., type: str, required: true}
  absent:
    description: Files (or directories, with what they hold) to remove.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    support: full
    details: Reports what would change; an owner that does not exist yet counts as a change.
  diff_mode:
    support: partial
    details: Shows O(files) only, never O(secret_files).
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Ray's directories and files
  rayfleet.cluster.node_files:
    directories:
      - {path: /etc/ray, owner: root, group: ray, mode: "0750"}
    files:
      - {path: /etc/ray/labels.yaml, content: "zone: a\n", owner: root, group: ray, mode: "0640"}
    secret_files:
      - {path: /etc/ray/secrets.env, content: "{{ env }}", owner: root, group: root, mode: "0600"}
    absent: [/etc/ray/old.env]

- name: A firewall table checked before it is written, and a list another program keeps
  rayfleet.cluster.node_files:
    files:
      - path: /etc/rayfleet/firewall.nft
        content: "{{ lookup('ansible.builtin.template', 'rayfleet.nft.j2') }}"
        owner: root
        group: root
        mode: "0644"
        validate: nft --check --file %s
      - {path: /var/lib/rayfleet/firewall/joined, content: "", owner: root, group: root,
         mode: "0644", create_only: true}
"""

RETURN = r"""
changes:
  description:
    - Each path that differed and how - C(missing), C(content), C(owner), C(mode) or C(absent).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/ray/labels.yaml, changes: [content]}]
"""

import os
import shlex
import shutil
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.node_files import (
    Found,
    Wanted,
    differences,
    fix_attributes,
    ids,
    look,
    make_directory,
    parse_mode,
    write_file,
)

_PATH = {"type": "path", "required": True}
_OWNERSHIP = {
    "owner": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
}


def wanted_of(entry: dict[str, Any], directory: bool) -> Wanted:
    content = None if directory else str(entry["content"]).encode()
    return Wanted(
        entry["path"],
        entry["owner"],
        entry["group"],
        parse_mode(entry["mode"]),
        content,
        bool(entry.get("create_only")),
    )


class ValidationError(Exception):
    """The validate command refused a file's new content."""


def validator(module: AnsibleModule, command: str | None) -> Callable[[str], None] | None:
    """A check of a temporary file's content by the entry's validate command, if it has one."""
    if command is None:
        return None
    words = shlex.split(command)
    if "%s" not in words:
        module.fail_json(msg=f"validate must name the file as a word %s: {command}")

    def check(path: str) -> None:
        argv = [path if word == "%s" else word for word in words]
        rc, out, err = module.run_command(argv)
        if rc != 0:
            raise ValidationError(f"{shlex.join(argv)} exited {rc}: {(err or out).strip()}")

    return check


def settle(
    module: AnsibleModule,
    wanted: Wanted,
    secret: bool,
    check: Callable[[str], None] | None = None,
) -> tuple[list[str], dict[str, str] | None]:
    """What differs at one path, fixed unless in check mode; and its diff, where shown."""
    found = look(wanted.path, read_content=not wanted.is_directory)
    try:
        uid, gid = ids(wanted.owner, wanted.group)
    except KeyError as error:
        if not module.check_mode:
            module.fail_json(msg=f"{wanted.path}: {error.args[0]}")
        # A user the run would create first: a change either way.
        differ = ["owner", *differences(wanted, found, found.uid, found.gid)]
        return differ, None if secret or wanted.is_directory else _diff(wanted, found)
    differ = differences(wanted, found, uid, gid)
    if differ == ["kind"]:
        module.fail_json(
            msg=f"{wanted.path}: is not a {'directory' if wanted.is_directory else 'file'}"
        )
    if differ and not module.check_mode:
        if wanted.is_directory:
            make_directory(wanted, uid, gid)
        elif {"missing", "content"} & set(differ):
            write_file(wanted, uid, gid, check)
        else:
            fix_attributes(wanted, uid, gid)
    return differ, _diff(
        wanted, found
    ) if differ and not secret and not wanted.is_directory else None


def _diff(wanted: Wanted, found: Found) -> dict[str, str]:
    before = (found.content or b"").decode(errors="replace")
    # A create-only file that exists keeps its content.
    kept = wanted.create_only and found.kind == "file"
    return {
        "before_header": wanted.path,
        "after_header": wanted.path,
        "before": before,
        "after": before if kept else (wanted.content or b"").decode(),
    }


def remove(path: str) -> None:
    """A file, a link, or a directory with what it holds (as the file module's state=absent)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {"path": _PATH, **_OWNERSHIP},
            },
            "files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": _PATH,
                    "content": {"type": "str", "required": True},
                    **_OWNERSHIP,
                    "create_only": {"type": "bool", "default": False},
                    "validate": {"type": "str"},
                },
            },
            "secret_files": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": _PATH,
                    "content": {"type": "str", "required": True, "no_log": True},
                    **_OWNERSHIP,
                },
            },
            "absent": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    changes: list[dict[str, Any]] = []
    diffs: list[dict[str, str]] = []
    entries = (
        [(wanted_of(entry, directory=True), False, None) for entry in params["directories"]]
        + [
            (wanted_of(entry, directory=False), False, validator(module, entry["validate"]))
            for entry in params["files"]
        ]
        + [(wanted_of(entry, directory=False), True, None) for entry in params["secret_files"]]
    )
    for wanted, secret, check in entries:
        try:
            differ, diff = settle(module, wanted, secret, check)
        except ValidationError as error:
            # What this call wrote before stays written: say so.
            module.fail_json(
                msg=f"{wanted.path}: not written: {error}", changed=bool(changes), changes=changes
            )
        if differ:
            changes.append({"path": wanted.path, "changes": differ})
        if diff is not None:
            diffs.append(diff)
    for path in params["absent"]:
        if os.path.lexists(path):
            changes.append({"path": path, "changes": ["absent"]})
            if not module.check_mode:
                remove(path)
    module.exit_json(changed=bool(changes), changes=changes, diff=diffs)


if __name__ == "__main__":
    main()
