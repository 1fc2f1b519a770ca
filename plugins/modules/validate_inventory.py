# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
# The work happens in the action plugin of the same name; this file holds its documentation.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_inventory
short_description: Validate a rayfleet inventory before any host is changed
version_added: "0.1.0"
description:
  - Runs on the controller and reads every host of the C(ray_head) and C(ray_workers) groups,
    whatever C(--limit) says, so a run stops before it changes any host.
  - Checks the types of every C(ray_*) variable against the roles' argument specs, catches typos of
    known variables, one head per cluster, one worker group per worker, C(ray_min_workers) not
    above C(ray_max_workers), distinct ports in range and outside the worker port range, an exact
    Ray release, the same release across a cluster, and an object store that fits the host's memory
    (when facts were gathered).
  - Checks the monitoring layout - at most one host in the C(monitoring) group, and an autoscaling
    cluster monitored from its own head (its members' scrape targets are written there).
  - Each problem names the host, the variable and the fix.
  - On success sets the facts C(rayfleet_plan) (the typed, versioned cluster plan of clusters, Ray
    nodes and the hosts they run on), C(rayfleet_nodes) (each node with its cluster's settings),
    which the ray role reads, and C(rayfleet_monitoring) (who monitors which cluster, every
    exporter's address, each Prometheus's scrape targets), which the monitoring roles read.
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
author:
  - rayfleet contributors
"""

EXAMPLES = r"""
- name: Validate the inventory
  rayfleet.cluster.validate_inventory:
  run_once: true
"""

RETURN = r"""
problems:
  description: 'Every problem found, as C(host: variable: message. Fix: what to do.).'
  returned: failure
  type: list
  elements: str
ansible_facts:
  description: Facts set on every host of the play.
  returned: success
  type: dict
  contains:
    rayfleet_plan:
      description:
        - The cluster plan, see C(plugins/module_utils/plan.py), which reads it back. Its fields
          below are tested against that code.
      type: dict
      contains:
        version:
          description: The plan's version; rayfleet reads only plans of its own.
          type: int
        clusters:
          description: Each cluster by its C(ray_cluster_name).
          type: dict
          contains:
            head: {description: The head's node., type: str}
            gcs_address: {description: The GCS's C(host:port)., type: str}
            dashboard_address: {description: The dashboard's C(host:port)., type: str}
            gcs_storage: {description: 'C(none), C(redis) or C(rocksdb).', type: str}
            namespace: {description: The key prefix of the cluster's state in Redis., type: str}
            autoscaling: {description: The head runs the autoscaler., type: bool}
            auth_mode: {description: Ray's C(RAY_AUTH_MODE)., type: str}
            tls: {description: Ray's gRPC is TLS., type: bool}
            monitoring: {description: Prometheus scrapes the cluster., type: bool}
            temp_dir: {description: Ray's C(--temp-dir)., type: str}
            head_user: {description: The user Ray runs as on the head (C(ray_user))., type: str}
            redis_address: {description: 'The Redis the GCS keeps state in, or empty.', type: str}
            external_redis:
              description: That Redis when it is outside the inventory (C(ray_redis_address)), else
                empty.
              type: str
            redis_tls: {description: The GCS reaches Redis over TLS., type: bool}
            redis_ca_file: {description: The controller's copy of that Redis's CA., type: str}
            redis_user: {description: "The cluster's own Redis user, or empty.", type: str}
        nodes:
          description: Each Ray node by name.
          type: dict
          contains:
            host: {description: The inventory host it runs on., type: str}
            cluster: {description: Its cluster., type: str}
            type: {description: C(head) or C(worker)., type: str}
            group: {description: C(head) or its worker group., type: str}
            address: {description: The address it serves on., type: str}
            metrics_port: {description: Where it exports Ray's metrics., type: int}
            agent_port: {description: Its dashboard agent's HTTP port., type: int}
            venv:
              description: Ray's venv on the host, whose Python runs rayfleet's modules there.
              type: str
            gpu:
              description: A GPU host (ray_gpu) - rayfleet reads, checks and watches its GPUs.
              type: bool
            gpu_mig:
              description: A GPU host whose nodes run on the GPUs' MIG devices (ray_gpu_mig).
              type: bool
            slot:
              description: The node's place on its host - 0, or 1... where a GPU host is split
                into several nodes (ray_gpu_nodes), whose node in slot k is named C(<host>/<k>).
              type: int
            pool: {description: A pool host the autoscaler adds and removes., type: bool}
            spare: {description: A pool host out of the cluster now., type: bool}
            vars:
              description: The settings the head hands its autoscaler's inventory (autoscaling
                heads and pool hosts, no secrets), else null.
              type: dict
        hosts:
          description: Each host that runs Ray, with the names of its nodes.
          type: dict
      sample:
        version: 1
        clusters:
          rayfleet: {head: head, gcs_address: 10.89.90.10:6379, gcs_storage: none, auth_mode: token}
        nodes:
          cpu-1: {host: cpu-1, cluster: rayfleet, type: worker, group: ray_workers_cpu}
        hosts:
          cpu-1: [cpu-1]
    rayfleet_nodes:
      description: Each node of C(rayfleet_plan) with its cluster's fields (and C(cluster), its
        name), and C(auth_token_file), where a node keeps its cluster's token; the view the
        roles read.
      type: dict
      sample:
        cpu-1:
          cluster: rayfleet
          type: worker
          group: ray_workers_cpu
          head: head
          gcs_address: 10.89.90.10:6379
          dashboard_address: 10.89.90.10:8265
          auth_mode: token
          auth_token_file: /etc/ray/auth-token
    rayfleet_monitoring:
      description:
        - C(servers), each monitoring host with the clusters it monitors and its scrape targets per
          job (C(ray), C(node), C(redis)) in Prometheus's file discovery format, and Ray's own
          discovery file when it is a head; C(clusters), each monitored cluster's monitoring host,
          head, Prometheus and Grafana URLs; C(exporters), the address of every host that runs
          node_exporter; C(pool), by cluster, each pool host's target groups for the autoscaler.
      type: dict
      sample:
        clusters:
          rayfleet:
            server: head
            head: head
            prometheus_url: http://10.89.90.10:9090
            grafana_url: http://10.89.90.10:3000
    rayfleet_firewall:
      description:
        - For every host rayfleet manages, what its firewall lets in (the firewall role), see
          C(plugins/module_utils/firewall.py). C(members) by address family, the head and static
          workers of its cluster; C(pool), the cluster's pool addresses that C(rayfleet-fence) may
          let in as they join; C(joined), those the members inventory has in, the list a host
          starts from; C(openings), TCP ports open to the admin networks and to named
          addresses; C(enabled), the host's C(firewall_enabled); C(fence_command), the path of
          C(rayfleet-fence).
      type: dict
      sample:
        cpu-1:
          enabled: true
          members: {ip: [10.89.90.10, 10.89.90.11], ip6: []}
          pool: [10.89.90.21]
          joined: []
          openings:
            - {comment: Ray metrics, ports: [8090], admin: false, ip: [10.89.90.10], ip6: []}
          fence_command: /usr/local/sbin/rayfleet-fence
    rayfleet_proxy:
      description:
        - For every head and monitoring host with C(proxy_enabled), what its TLS proxy serves (the
          proxy role), see C(plugins/module_utils/proxy.py). Its C(address), the C(dashboard) and
          C(prometheus) upstreams (C(host:port), or empty) and the proxy's port for each.
      type: dict
      sample:
        head:
          address: 10.89.90.10
          dashboard: 10.89.90.10:8265
          prometheus: 10.89.90.10:9090
          dashboard_port: 8443
          prometheus_port: 9443
    rayfleet_play_groups:
      description:
        - The groups the later plays run on, each with its hosts; C(validate.yml) puts each host
          in its groups with C(group_by). See C(plugins/module_utils/play_groups.py).
        - C(rayfleet_ray_nodes) heads and workers in their cluster (C(ray.yml)),
          C(rayfleet_spare_hosts) pool hosts out of it (C(pool.yml)), C(rayfleet_fenced_hosts)
          every managed host but those (C(firewall.yml)), C(rayfleet_exporter_hosts) and
          C(rayfleet_monitoring_servers) (C(monitoring.yml)).
      type: dict
      sample:
        rayfleet_ray_nodes: [cpu-1, cpu-2, head]
        rayfleet_spare_hosts: [pool-1, pool-2]
        rayfleet_fenced_hosts: [cpu-1, cpu-2, head, redis-1]
        rayfleet_exporter_hosts: [cpu-1, cpu-2, head, redis-1]
        rayfleet_monitoring_servers: [head]
    rayfleet_converged_check:
      description:
        - What C(validate.yml) and C(unlock.yml) need to leave out converged hosts (module
          M(rayfleet.cluster.converged)). C(full_run), why this run takes every host through
          every play, or empty; C(dashboards), each head's dashboard URL and the token file to
          ask it with (null without token auth); C(dirs), each Ray host's home, temp, spill
          and GCS directories, whose own owner and mode a record holds; C(nvml_hosts), the
          hosts whose GPUs the ray role reads on every run (C(ray_gpu), or C(ray_num_gpus)
          above 0).
      type: dict
      sample:
        full_run: ""
        dashboards:
          head: {url: http://10.89.90.10:8265, token_file: /etc/ray/auth-token}
        dirs:
          cpu-1: [/var/lib/ray, /var/lib/ray/gcs, /var/lib/ray/spill, /var/lib/ray/tmp]
        nvml_hosts: [gpu-1]
"""
