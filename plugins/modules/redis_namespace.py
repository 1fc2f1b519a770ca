#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Delete one Ray cluster's GCS state from a Redis shared by several clusters."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redis_namespace
short_description: Delete one Ray cluster's GCS state from Redis, and nothing else
version_added: "0.2.0"
description:
  - A Ray head started with C(RAY_REDIS_ADDRESS) and C(RAY_external_storage_namespace) keeps its
    GCS tables in Redis hashes named C(RAY<namespace>@<table>). Several clusters can share one
    Redis because each uses its own namespace.
  - With O(state=absent) this module deletes exactly the keys of O(namespace); keys of other
    namespaces and keys that are not Ray's stay.
  - When O(address) is a Redis Sentinel, the keys are deleted on the primary it names, as Ray's GCS
    does.
  - Stop the cluster's head first, or its GCS writes the state again.
options:
  address:
    description: Redis (or Sentinel) address, C(host:port).
    type: str
    required: true
  password:
    description: Redis password; empty for a Redis without one.
    type: str
    default: ""
  username:
    description: Redis ACL user; empty for the default user.
    type: str
    default: ""
  ca_file:
    description:
      - The CA certificate, on the host that runs the module, of a Redis that serves TLS (the
        redis role's C(redis_tls)); the connection then uses TLS and checks Redis's
        certificate. Empty for plain TCP.
    type: path
    default: ""
  namespace:
    description: The cluster's C(RAY_external_storage_namespace).
    type: str
    required: true
  state:
    description: C(absent) deletes the namespace's keys.
    type: str
    choices: [absent]
    default: absent
requirements:
  - redis (the Python client) on the host that runs the module; the ray role installs it in Ray's
    venv, so run the module on the head with that venv's interpreter.
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
- name: Delete cluster ml-prod's GCS state
  rayfleet.cluster.redis_namespace:
    address: 10.0.0.20:6379
    password: "{{ lookup('ansible.builtin.file', 'credentials/redis.password') }}"
    namespace: ml-prod
    state: absent
  vars:
    ansible_python_interpreter: "/opt/ray/{{ ray_version }}/bin/python"
"""

RETURN = r"""
keys:
  description: The namespace's keys, deleted (or, in check mode, to be deleted).
  returned: always
  type: list
  elements: str
  sample: ["RAYml-prod@NODE", "RAYml-prod@ACTOR"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    cluster_keys,
    namespace_problem,
    scan_pattern,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.redis_client import (
    REDIS_IMPORT_ERROR,
    RedisError,
    connect,
)

DELETE_BATCH = 500
TIMEOUT_S = 10


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "str", "required": True},
            "password": {"type": "str", "default": "", "no_log": True},
            "username": {"type": "str", "default": ""},
            "ca_file": {"type": "path", "default": ""},
            "namespace": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["absent"], "default": "absent"},
        },
        supports_check_mode=True,
    )
    if REDIS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
    namespace = module.params["namespace"]
    problem = namespace_problem(namespace)
    if problem:
        module.fail_json(msg=f"namespace: {problem}")
    try:
        client = connect(
            module.params["address"],
            module.params["username"],
            module.params["password"],
            TIMEOUT_S,
            module.params["ca_file"],
        )
        keys = cluster_keys(client.scan_iter(match=scan_pattern(namespace), count=1000), namespace)
        if not module.check_mode:
            for start in range(0, len(keys), DELETE_BATCH):
                client.delete(*keys[start : start + DELETE_BATCH])
    except (RedisError, OSError, ValueError) as error:
        module.fail_json(msg=f"Redis at {module.params['address']}: {error}", keys=[])
    module.exit_json(changed=bool(keys), keys=keys)


if __name__ == "__main__":
    main()
