# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
# The work happens in the action plugin of the same name; this file holds its documentation.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: converged_inputs
short_description: The digest of what a run of rayfleet's playbooks reads on the controller
version_added: "0.5.0"
description:
  - Runs on the controller only, once per run (C(run_once)), and sets the fact
    C(rayfleet_converged_inputs) for every host of the play, which M(rayfleet.cluster.converged)
    compares with each host's record of the last full run, or records.
  - Digests the collection's files and the rayfleet package; the inventory sources with their
    C(group_vars), C(host_vars) and C(.credentials); the files and directories the C(*_file)
    variables and the TLS and wheelhouse directories name (size and modification time); the extra
    variables and the files they load; the groups but rayfleet's own; each host's connection
    variables and those the C(pool_members) inventory plugin adds; validation's plan, firewall,
    monitoring and proxy facts; the facts the roles read of every host but spare pool hosts, and
    the controller's address as each host sees it; ansible-core's release; C(HOME) and C(USER).
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author: rayfleet contributors
"""

EXAMPLES = r"""
- name: Digest this run's inputs
  rayfleet.cluster.converged_inputs:
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: C(rayfleet_converged_inputs), the digest.
  returned: always
  type: dict
  sample: {rayfleet_converged_inputs: 9f2c...}
"""
