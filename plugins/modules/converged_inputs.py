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
  - Digests the collection's files and the rayfleet package; the playbooks on the command line
    and the C(group_vars) and C(host_vars) beside them; the inventory sources with their
    C(group_vars), C(host_vars) and C(.credentials), through links; the files and directories
    the C(*_file) variables and the TLS and wheelhouse directories name (size and modification
    time); the extra variables and the files they load; the groups but rayfleet's own, and every
    variable the inventory sets on a host or group (a dynamic inventory's too; a vaulted value
    by its ciphertext); validation's plan, firewall, monitoring and proxy facts; the facts the
    roles read of every host but spare pool hosts; the controller's address as each host sees it
    and as the controller's routes choose it; ansible-core's release; C(HOME) and C(USER).
  - Sets C(rayfleet_converged_inputs_stable) too, the digest of all that but what a run may write
    itself (the C(.credentials) beside an inventory file or in an inventory directory, the files
    and directories the variables name). Given O(since), that digest as the
    run began, and it differs now, the playbooks or inventory changed while the run went on; it
    warns and sets both facts empty, so that no host is recorded.
  - Never fails the run; inputs it cannot digest set both facts empty, which match no record.
options:
  since:
    description: C(rayfleet_converged_inputs_stable) as the run began.
    type: str
author: rayfleet contributors
"""

EXAMPLES = r"""
- name: Digest this run's inputs
  rayfleet.cluster.converged_inputs:
  run_once: true

- name: Digest them again as the run ends, which may have written credentials
  rayfleet.cluster.converged_inputs:
    since: "{{ rayfleet_converged_inputs_stable }}"
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: C(rayfleet_converged_inputs), the digest, and C(rayfleet_converged_inputs_stable).
  returned: always
  type: dict
  sample: {rayfleet_converged_inputs: 9f2c..., rayfleet_converged_inputs_stable: 41ab...}
"""
