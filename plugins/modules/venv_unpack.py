# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
# The work happens in the action plugin of the same name; this file holds its documentation.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: venv_unpack
short_description: Put the controller's venv pack on a host and swap it in whole
version_added: "0.5.0"
description:
  - Transfers O(pack), built by M(rayfleet.cluster.venv_pack) on the controller, into the task's
    temporary directory on the host, unpacks it beside O(venv) and swaps it in, so that a venv is
    never half one release and half another and nothing of an older venv lingers.
  - On the host the pack is made O(owner)'s (mode 0600) and moved beside O(venv), out of the
    connecting user's directory, then checked against its sha256 on the controller before it
    is unpacked. The controller keeps that digest in C(<pack>.sha256) beside the pack, with the
    pack's size and modification time, so it reads the pack once, not once per host.
  - Makes the venv's parent directory (O(owner), O(group), mode 0755) where it is missing.
  - Keeps the C(rayfleet.pth) that the ray_autoscaler role put into the old venv.
  - Always reports a change; the caller runs it only where the venv is not the one wanted.
  - On failure the old venv is left as it was.
options:
  pack:
    description: The pack on the controller.
    type: path
    required: true
  venv:
    description: The venv's path on the host, absolute and below a directory.
    type: str
    required: true
  owner:
    description: Owner of the pack on the host and of the venv's parent directory.
    type: str
    default: root
  group:
    description: Group of the venv's parent directory.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Transfers and changes nothing, and reports the change a run would make.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Unpack the venv the controller built
  rayfleet.cluster.venv_unpack:
    # Made by rayfleet.cluster.venv_pack, named by the ray_venv_pack filter.
    pack: "{{ pack_path }}"
    venv: /opt/ray/venv
    group: ray
  become: true
"""

RETURN = r"""
venv:
  description: The venv's path on the host.
  returned: always
  type: str
  sample: /opt/ray/venv
"""
