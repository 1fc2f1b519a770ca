#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""The Ray nodes at one address, from the head's state API, optionally waiting for one."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ray_node_info
short_description: Find the Ray nodes at an address in a cluster's state, waiting for one if asked
version_added: "0.5.0"
description:
  - Asks the head's dashboard (C(/api/v0/nodes)) for the nodes at O(node_ip) in O(state), or
    for the one of them in O(slot).
  - With O(wait_timeout), asks again every two seconds until at least one such node exists, and
    fails when none did in time.
  - Authenticates with the cluster's token, read from O(auth_token_file) on the host the module
    runs on, so the token is never a module argument, a result or a log line.
  - Only reads.
options:
  dashboard_url:
    description: The head's dashboard, C(http://host:port).
    type: str
    required: true
  node_ip:
    description: The address the nodes report (their C(--node-ip-address)).
    type: str
    required: true
  slot:
    description:
      - On a host that runs several Ray nodes (C(ray_gpu_nodes)), only the node in this slot -
        the one whose Ray label C(rayfleet.io/slot) says so (slot 0 also matches a node without
        the label).
      - Unset matches every node at O(node_ip).
    type: int
  state:
    description: The state the nodes must be in.
    type: str
    choices: [ALIVE, DEAD]
    default: ALIVE
  auth_token_file:
    description:
      - The cluster's token file on this host (the ray role installs it as C(/etc/ray/auth-token)).
      - Unset for a cluster that runs with C(RAY_AUTH_MODE=disabled).
    type: path
  wait_timeout:
    description: Seconds to wait for a matching node; 0 answers at once, found or not.
    type: int
    default: 0
  timeout:
    description: Seconds each request may take.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Wait until the node at 10.0.0.11 is ALIVE
  rayfleet.cluster.ray_node_info:
    dashboard_url: http://10.0.0.10:8265
    node_ip: 10.0.0.11
    auth_token_file: /etc/ray/auth-token
    wait_timeout: 120
  delegate_to: head-1
"""

RETURN = r"""
nodes:
  description: The matching nodes, as the state API lists them.
  returned: success
  type: list
  elements: dict
  sample:
    - {node_id: 3f4c..., node_ip: 10.0.0.11, state: ALIVE, is_head_node: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_auth import (
    TokenError,
    auth_headers,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    NodeWaitError,
    wait_for_nodes,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dashboard_url": {"type": "str", "required": True},
            "node_ip": {"type": "str", "required": True},
            "slot": {"type": "int"},
            "state": {"type": "str", "choices": ["ALIVE", "DEAD"], "default": "ALIVE"},
            "auth_token_file": {"type": "path"},
            "wait_timeout": {"type": "int", "default": 0},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        headers = auth_headers(params["auth_token_file"])
        nodes = wait_for_nodes(
            params["dashboard_url"],
            params["node_ip"],
            headers,
            state=params["state"],
            slot=params["slot"],
            wait_timeout=params["wait_timeout"],
            timeout=params["timeout"],
        )
    except (TokenError, NodeWaitError) as error:
        module.fail_json(msg=str(error), nodes=[])
    module.exit_json(changed=False, nodes=nodes)


if __name__ == "__main__":
    main()
