#!/usr/bin/python
# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Check a Ray cluster's health: GCS, every raylet, dashboard API, GCS event loop, Redis."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ray_health
short_description: Check a Ray cluster's GCS, raylets, dashboard API and Redis, one line per node
version_added: "0.4.0"
description:
  - Asks the head's dashboard whether the GCS is healthy (C(/api/gcs_healthz)) and times its state
    API's node list, reads the GCS's event-loop lag from the head's metrics
    (C(ray_io_context_event_loop_lag_ms)), asks each node's agent whether its raylet is healthy
    (C(/api/local_raylet_healthz)) and compares with the node's state in the GCS, and sends Redis
    a PING (through a Sentinel to its primary, as Ray's GCS does).
  - Ray's dashboard gives the GCS 100 ms to answer, so the GCS counts as down after three
    failed checks in a row, a second apart, not after one late answer.
  - Nodes Ray has that O(nodes) does not list (pool hosts the autoscaler added) are checked too.
  - Fails, naming every unhealthy node, when anything is unhealthy; RV(lines) holds one line per
    node either way.
  - Only reads.
options:
  dashboard_url:
    description: The head's dashboard, C(http://host:port).
    type: str
    required: true
  metrics_url:
    description: The head's metrics export endpoint, C(http://host:port/metrics).
    type: str
    required: true
  head:
    description: Name of the head in O(nodes).
    type: str
    required: true
  nodes:
    description:
      - The cluster's nodes, the head among them, by inventory name; each a mapping with the node's
        Ray C(address) and C(agent_port) (its C(ray_dashboard_agent_listen_port)) and, on a
        host that runs several nodes, its C(slot) (the Ray label C(rayfleet.io/slot) that tells
        them apart), as in the C(rayfleet_nodes) layout of the validate play. Other keys are
        ignored.
    type: dict
    required: true
  redis:
    description: The Redis that keeps the GCS state, if any.
    type: dict
    suboptions:
      name:
        description: Name to report it under.
        type: str
        required: true
      address:
        description: C(host:port).
        type: str
        required: true
      username:
        description: Its user; empty for the default user.
        type: str
        default: ""
      password:
        description: Its password.
        type: str
        default: ""
        no_log: true
      ca_file:
        description:
          - The CA certificate, on this host, of a Redis that serves TLS (the redis role's
            C(redis_tls)); the probe then uses TLS and checks Redis's certificate. Empty for
            plain TCP.
        type: path
        default: ""
  auth_token_file:
    description:
      - The cluster's token file on this host (the ray role installs it as C(/etc/ray/auth-token)),
        sent to the dashboard and the agents; unset for a cluster without token authentication.
    type: path
  max_dashboard_latency_ms:
    description: The dashboard API is unhealthy above this.
    type: float
    default: 2000
  max_event_loop_lag_ms:
    description: The GCS is unhealthy when an event loop lags more than this.
    type: float
    default: 1000
  timeout:
    description: Seconds each request may take.
    type: float
    default: 5
requirements:
  - redis (the Python client), for O(redis) only; the ray role installs it in Ray's venv, so run
    the module on the head with that venv's interpreter.
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
- name: Check cluster ml-prod
  rayfleet.cluster.ray_health:
    dashboard_url: http://10.0.0.10:8265
    metrics_url: http://10.0.0.10:8090/metrics
    head: head-1
    auth_token_file: /etc/ray/auth-token
    nodes:
      head-1: {address: 10.0.0.10, agent_port: 52365}
      cpu-1: {address: 10.0.0.11, agent_port: 52365}
    redis: {name: redis-1, address: "10.0.0.20:6379", password: "{{ redis_password }}"}
  vars:
    ansible_python_interpreter: "/opt/ray/{{ ray_version }}/bin/python"
  register: health
"""

RETURN = r"""
lines:
  description: One line per node and for Redis - name, address, healthy or UNHEALTHY, and why.
  returned: always
  type: list
  elements: str
  sample:
    - "cpu-1 (10.0.0.11): UNHEALTHY: raylet: [Errno 111] Connection refused; Ray node state: DEAD"
healthy:
  description: Whether everything is healthy.
  returned: always
  type: bool
unhealthy:
  description: Names of the unhealthy nodes (and Redis).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import join_address
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_auth import (
    TokenError,
    auth_headers,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    GCS_HEALTH_PATH,
    GCS_PROBE_ATTEMPTS,
    GCS_PROBE_PAUSE_S,
    NODES_PATH,
    RAYLET_HEALTH_PATH,
    ExpectedNode,
    HeadProbes,
    Probe,
    as_result,
    cluster_health,
    first_success,
    http_get,
    redis_health,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.redis_client import (
    REDIS_IMPORT_ERROR,
    RedisError,
    connect,
)


def probe_redis(redis: dict[str, str], timeout: float) -> Probe:
    """PING the Redis primary at its address, or the one a Sentinel there names."""
    if REDIS_IMPORT_ERROR:
        return Probe(False, "the redis Python client is missing (run the module with Ray's venv)")
    start = time.monotonic()
    try:
        connect(
            redis["address"], redis["username"], redis["password"], timeout, redis["ca_file"]
        ).ping()
    except (RedisError, OSError, ValueError) as error:
        return Probe(False, str(error), time.monotonic() - start)
    return Probe(True, "PONG", time.monotonic() - start)


def main() -> None:
    redis_spec = {
        "name": {"type": "str", "required": True},
        "address": {"type": "str", "required": True},
        "username": {"type": "str", "default": ""},
        "password": {"type": "str", "default": "", "no_log": True},
        "ca_file": {"type": "path", "default": ""},
    }
    module = AnsibleModule(
        argument_spec={
            "dashboard_url": {"type": "str", "required": True},
            "metrics_url": {"type": "str", "required": True},
            "head": {"type": "str", "required": True},
            "nodes": {"type": "dict", "required": True},
            "redis": {"type": "dict", "options": redis_spec},
            "auth_token_file": {"type": "path"},
            "max_dashboard_latency_ms": {"type": "float", "default": 2000},
            "max_event_loop_lag_ms": {"type": "float", "default": 1000},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    timeout = params["timeout"]
    try:
        headers = auth_headers(params["auth_token_file"])
    except TokenError as error:
        module.fail_json(msg=str(error))
    try:
        nodes = [
            ExpectedNode(
                str(name),
                str(node["address"]),
                int(node["agent_port"]),
                int(node.get("slot", 0)),
            )
            for name, node in sorted(params["nodes"].items())
        ]
    except (KeyError, TypeError, ValueError) as error:
        module.fail_json(msg=f"nodes: each needs an address and an agent_port ({error})")
    head = next((node for node in nodes if node.name == params["head"]), None)
    if head is None:
        module.fail_json(msg=f"head {params['head']!r} is not one of the nodes")
        return
    dashboard = params["dashboard_url"].rstrip("/")
    probes = HeadProbes(
        gcs=first_success(
            lambda: http_get(dashboard + GCS_HEALTH_PATH, timeout, headers),
            GCS_PROBE_ATTEMPTS,
            GCS_PROBE_PAUSE_S,
        ),
        nodes=http_get(dashboard + NODES_PATH, timeout, headers),
        metrics=http_get(params["metrics_url"], timeout),
    )

    def probe_raylet(address: str, port: int) -> Probe:
        url = f"http://{join_address(address, port)}{RAYLET_HEALTH_PATH}"
        return http_get(url, timeout, headers)

    verdicts = cluster_health(
        head,
        nodes,
        probes,
        probe_raylet,
        {
            "max_dashboard_latency_ms": params["max_dashboard_latency_ms"],
            "max_event_loop_lag_ms": params["max_event_loop_lag_ms"],
        },
    )
    if params["redis"]:
        redis = params["redis"]
        probe = probe_redis(redis, timeout)
        verdicts.append(redis_health(redis["name"], redis["address"], probe))
    result = as_result(verdicts)
    if not result["healthy"]:
        module.fail_json(msg="Unhealthy: " + ", ".join(result["unhealthy"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
