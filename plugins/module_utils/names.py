# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Names the collection and the rayfleet package share: one place for each.

Inventory groups, the host variables the autoscaler writes, Prometheus's scrape jobs and
labels, and where the members' scrape targets go. Plain constants without imports: the
rayfleet package imports this module too, on the controller (from the wheel, which
carries the collection) and on an autoscaling head (from the bundle the ray role unpacks).
"""

from __future__ import annotations

HEAD_GROUP = "ray_head"
WORKERS_GROUP = "ray_workers"
REDIS_GROUP = "redis"
MONITORING_GROUP = "monitoring"
# Child groups of ray_pool are node types whose hosts the autoscaler adds and removes.
POOL_GROUP = "ray_pool"
# Written by the autoscaler on the head: the pool hosts that are in the cluster now.
POOL_MEMBERS_GROUP = "ray_pool_members"

# The members inventory's host variables: the node id the raylet reports, and the host's
# pool status (launching or running).
NODE_ID_VAR = "rayfleet_node_id"
POOL_STATUS_VAR = "rayfleet_pool_status"

# Scrape jobs; rules and dashboards select on them.
RAY_JOB = "ray"
NODE_JOB = "node"
REDIS_JOB = "redis"
# The label Ray's own Grafana dashboards filter clusters by.
CLUSTER_LABEL = "ray_io_cluster"
# On an autoscaling head: the autoscaler writes its members' targets here, and the head's
# Prometheus (prometheus role) reads them.
MEMBER_TARGETS_DIR = "/var/lib/rayfleet/prometheus"
# The cluster's token on every node (root:ray 0640): the ray role installs it there (plan's
# node view), and rayfleet's checks on a head ask its dashboard with it.
NODE_TOKEN_FILE = "/etc/ray/auth-token"
# On a pool host that joined once (roles/ray/files/rayfleet_ray_join.py): the ray role
# installs it there, and the provisioner runs it for the host's next joins.
JOIN_COMMAND = "/usr/local/sbin/rayfleet-ray-join"
# What the provisioner passes its join runs: the fingerprint of its inputs, which the ray
# role seals the host with.
JOIN_FINGERPRINT_VAR = "rayfleet_join_fingerprint"
# Set on every host of the inventory the head's provisioner runs its playbooks with: the
# ray role then leaves the keys alone and validation leaves other listeners to the
# controller's runs.
PROVISIONER_VAR = "_ray_in_provisioner"
