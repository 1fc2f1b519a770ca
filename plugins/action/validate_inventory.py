# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Action plugin: validate the whole inventory on the controller before any host is changed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from ansible import context
from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.rayfleet.cluster.plugins.module_utils.converged import (
    data_dirs,
    full_run_reason,
    reads_gpus,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.firewall import (
    admin_network_problems,
    firewall_plan,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.gcs_storage import (
    DEFAULT_REDIS_PORT,
    join_address,
    split_address,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import (
    HEAD_PORTS,
    VAR_PREFIX,
    HostInput,
    Problem,
    RedisHost,
    check_inventory,
    effective_vars,
    listener_problems,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.monitoring import (
    Exporter,
    MonitoringServer,
    monitoring_layout,
    monitoring_problems,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.names import (
    HEAD_GROUP,
    MONITORING_GROUP,
    NODE_TOKEN_FILE,
    POOL_GROUP,
    PROVISIONER_VAR,
    REDIS_GROUP,
    WORKERS_GROUP,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import (
    NODE_PORTS,
    host_ports,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import HEAD, Plan, build_plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.play_groups import (
    play_groups,
    pool_member,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.proxy import proxy_plan
from ansible_collections.rayfleet.cluster.plugins.module_utils.run_lock import RUN_LOCK_DIR

try:  # ansible-core 2.19 renders only strings it trusts as templates
    from ansible.template import trust_as_template
except ImportError:  # earlier releases render every string

    def trust_as_template(value: Any) -> Any:
        return value


COLLECTION_ROOT = Path(__file__).resolve().parents[2]
ROLES_WITH_RAY_VARS = ("ray", "ray_autoscaler")


def role_argument_spec(role: str) -> dict[str, Any]:
    """The options of a role's main entry point, from its meta/argument_specs.yml."""
    spec_file = COLLECTION_ROOT / "roles" / role / "meta" / "argument_specs.yml"
    options: dict[str, Any] = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"][
        "options"
    ]
    return options


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS: frozenset[str] = frozenset()

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        spec: dict[str, Any] = {}
        for role in ROLES_WITH_RAY_VARS:
            spec.update(role_argument_spec(role))
        defaults = {name: option.get("default") for name, option in spec.items()}

        worker_groups, pool_groups = self._child_group_names(task_vars)
        groups = task_vars["groups"]
        hosts: list[HostInput] = []
        problems: list[Problem] = []
        for name in sorted(set(groups.get(HEAD_GROUP, [])) | set(groups.get(WORKERS_GROUP, []))):
            host, host_problems = self._host_input(name, task_vars, spec, worker_groups)
            hosts.append(_with_pool(host, task_vars, pool_groups))
            problems += host_problems
        redis_hosts: list[RedisHost] = []
        for name in groups.get(REDIS_GROUP, []):
            redis_host, redis_problems = self._redis_host(name, task_vars)
            redis_hosts.append(redis_host)
            problems += redis_problems
        inventory_problems, warnings = check_inventory(hosts, defaults, redis_hosts)
        problems += inventory_problems
        for warning in warnings:
            self._display.warning(warning)
        monitoring_group = sorted(groups.get(MONITORING_GROUP, []))
        managed = sorted(
            {*(host.name for host in hosts), *groups.get(REDIS_GROUP, []), *monitoring_group}
        )
        for name in managed:
            networks = self._templated(task_vars["hostvars"][name], "firewall_admin_networks")
            problems += admin_network_problems(name, [] if networks is None else networks)
        # What follows places every listener by the plan, which only a sound inventory makes.
        if problems:
            return self._failed(result, problems, later=True)
        plan = build_plan(hosts, defaults, redis_hosts)
        problems = [Problem(*problem) for problem in monitoring_problems(plan, monitoring_group)]
        if problems:
            return self._failed(result, problems, later=True)
        monitoring = self._monitoring(task_vars, hosts, monitoring_group, plan)
        ports = {
            name: self._listener_ports(
                task_vars["hostvars"][name],
                defaults,
                is_head=any(node.type == HEAD for node in plan.nodes_on(name)),
            )
            for name in managed
        }
        proxy = proxy_plan(
            plan,
            monitoring,
            ports,
            [
                name
                for name in managed
                if self._setting(task_vars["hostvars"][name], "proxy", "proxy_enabled")
            ],
        )
        by_name = {host.name: host for host in hosts}
        redis_by_name = {redis.name: redis for redis in redis_hosts}
        # The provisioner's inventory holds only the Ray settings of its hosts: their other
        # listeners were judged by the controller's run, which has them all.
        judged = [name for name in managed if not task_vars["hostvars"][name].get(PROVISIONER_VAR)]
        for name in judged:
            problems += self._listener_problems(
                name,
                task_vars["hostvars"][name],
                roles=(by_name.get(name), redis_by_name.get(name)),
                defaults=defaults,
                ports=ports[name],
                layouts=(monitoring, proxy),
            )
        if problems:
            return self._failed(result, problems)
        firewall = firewall_plan(plan, monitoring, redis_hosts, ports, managed, proxy=proxy)
        for name, entry in firewall.items():
            entry["enabled"] = bool(
                self._setting(task_vars["hostvars"][name], "firewall", "firewall_enabled")
            )
        result["changed"] = False
        result["ansible_facts"] = {
            "rayfleet_plan": plan.to_dict(),
            "rayfleet_nodes": plan.node_view(),
            "rayfleet_monitoring": monitoring,
            "rayfleet_firewall": firewall,
            "rayfleet_proxy": proxy,
            "rayfleet_play_groups": play_groups(plan, monitoring, managed),
            "rayfleet_run_lock": {
                "dir": RUN_LOCK_DIR,
                "heads": plan.run_lock_heads(list(task_vars["ansible_play_hosts_all"])),
            },
            # validate.yml leaves out the hosts a full run would not change, unless this run
            # must take them all through every play (full_run: why).
            "rayfleet_converged_check": {
                "full_run": full_run_reason(
                    task_vars, bool(self._play_context.check_mode), context.CLIARGS
                ),
                # Each head's dashboard, and the token it asks with where the cluster has one.
                "dashboards": {
                    plan.nodes[cluster.head].host: {
                        "url": f"http://{cluster.dashboard_address}",
                        "token_file": NODE_TOKEN_FILE if cluster.auth_mode == "token" else None,
                    }
                    for cluster in plan.clusters.values()
                },
                # Ray's directories on each host, whose own mode and owner a record holds.
                "dirs": {host.name: data_dirs(effective_vars(host, defaults)) for host in hosts},
                # The hosts whose GPUs the ray role reads through NVML on every run.
                "nvml_hosts": sorted(
                    host.name for host in hosts if reads_gpus(effective_vars(host, defaults))
                ),
            },
        }
        return result

    def _setting(self, hostvars: Any, role: str, variable: str) -> Any:
        """A host's setting of a role, else the role's default."""
        value = self._templated(hostvars, variable)
        return role_argument_spec(role)[variable]["default"] if value is None else value

    def _path_setting(self, task_vars: dict[str, Any], name: str, role: str, variable: str) -> str:
        """A host's path setting of a role, else the role's default as that host renders it."""
        value = self._templated(task_vars["hostvars"][name], variable)
        if value is not None:
            return str(value)
        default = role_argument_spec(role)[variable]["default"]
        templar = self._templar.copy_with_new_env(
            available_variables=task_vars["hostvars"].raw_get(name)
        )
        return str(templar.template(trust_as_template(default)))

    def _listener_ports(
        self, hostvars: Any, defaults: dict[str, Any], *, is_head: bool
    ) -> dict[str, int]:
        """The ports of the listeners rayfleet may run on a host, beside Ray's own."""
        ports = {
            "node_exporter": self._setting(hostvars, "node_exporter", "node_exporter_port"),
            "redis_exporter": self._setting(hostvars, "redis", "redis_exporter_port"),
            "prometheus": self._setting(hostvars, "prometheus", "prometheus_port"),
            "grafana": self._setting(hostvars, "grafana", "grafana_port"),
            "proxy_dashboard": self._setting(hostvars, "proxy", "proxy_dashboard_port"),
            "proxy_prometheus": self._setting(hostvars, "proxy", "proxy_prometheus_port"),
        }
        if is_head:
            client = self._templated(hostvars, "ray_client_server_port")
            ports["client"] = defaults["ray_client_server_port"] if client is None else client
        return {name: int(port) for name, port in ports.items()}

    def _listener_problems(
        self,
        name: str,
        hostvars: Any,
        *,
        roles: tuple[HostInput | None, RedisHost | None],
        defaults: dict[str, Any],
        ports: dict[str, int],
        layouts: tuple[dict[str, Any], dict[str, dict[str, Any]]],
    ) -> list[Problem]:
        """Every listener rayfleet runs on the host, Ray's and the others, on ports of its own."""
        node, redis = roles
        monitoring, proxy = layouts
        ray_ports: dict[str, int] = {}
        worker_ports = None
        if node is not None:
            settings = effective_vars(node, defaults)
            # Every node's of a host split into several (ray_gpu_nodes).
            ray_ports = host_ports(settings, (*NODE_PORTS, *(HEAD_PORTS if node.is_head else ())))
            worker_ports = (settings["ray_min_worker_port"], settings["ray_max_worker_port"])
        others: dict[str, int] = {}
        if name in monitoring["exporters"]:
            others["node_exporter_port"] = ports["node_exporter"]
        if redis is not None:
            others["redis_port"] = split_address(redis.address)[1]
            if self._setting(hostvars, "redis", "redis_exporter"):
                others["redis_exporter_port"] = ports["redis_exporter"]
        if name in monitoring["servers"]:
            others["prometheus_port"] = ports["prometheus"]
            if self._setting(hostvars, "grafana", "grafana_install"):
                others["grafana_port"] = ports["grafana"]
        served = proxy.get(name, {})
        if served.get("dashboard"):
            others["proxy_dashboard_port"] = ports["proxy_dashboard"]
        if served.get("prometheus"):
            others["proxy_prometheus_port"] = ports["proxy_prometheus"]
        return listener_problems(name, ray_ports, others, worker_ports)

    def _failed(
        self, result: dict[str, Any], problems: list[Problem], *, later: bool = False
    ) -> dict[str, Any]:
        result["failed"] = True
        result["problems"] = [str(problem) for problem in problems]
        result["msg"] = "The inventory has {} problem(s); nothing was changed:\n{}{}".format(
            len(problems),
            "\n".join(result["problems"]),
            # The layout's checks need a sound inventory: say that more may come.
            "\n(The listeners of every host are checked once these are fixed.)" if later else "",
        )
        return result

    def _monitoring(
        self,
        task_vars: dict[str, Any],
        hosts: list[HostInput],
        monitoring_group: list[str],
        plan: Plan,
    ) -> dict[str, Any]:
        """Where each exporter, Prometheus and Grafana listens, and what each Prometheus scrapes."""
        hostvars = task_vars["hostvars"]
        ray_addresses = {host.name: host.address for host in hosts}
        redis_names = task_vars["groups"].get(REDIS_GROUP, [])

        def address(name: str, variable: str) -> str:
            chosen = self._templated(hostvars[name], variable) or ray_addresses.get(name)
            return _address(name, hostvars[name], chosen)

        def setting(name: str, role: str, variable: str) -> Any:
            return self._setting(hostvars[name], role, variable)

        exporters = {
            name: Exporter(
                name,
                address(name, "node_exporter_listen_address"),
                setting(name, "node_exporter", "node_exporter_port"),
            )
            for name in {*ray_addresses, *redis_names, *monitoring_group}
        }
        redis_exporters = [
            Exporter(
                name,
                address(name, "redis_bind_address"),
                setting(name, "redis", "redis_exporter_port"),
            )
            for name in redis_names
        ]
        servers = {
            name: MonitoringServer(
                name,
                address(name, "prometheus_listen_address"),
                setting(name, "prometheus", "prometheus_port"),
                setting(name, "grafana", "grafana_port"),
            )
            for name in {
                *monitoring_group,
                *(plan.nodes[cluster.head].host for cluster in plan.clusters.values()),
            }
        }
        return monitoring_layout(plan, exporters, redis_exporters, servers, monitoring_group)

    def _child_group_names(self, task_vars: dict[str, Any]) -> tuple[set[str], set[str]]:
        """Names of the child groups of ray_workers (worker groups) and of ray_pool.

        Play variables hold group membership but not the group tree, so the
        inventory sources are read again for it.
        """
        inventory = InventoryManager(
            loader=self._loader, sources=task_vars["ansible_inventory_sources"]
        )

        def children(parent: str) -> set[str]:
            group = inventory.groups.get(parent)
            return {child.name for child in group.child_groups} if group else set()

        return children(WORKERS_GROUP), children(POOL_GROUP)

    def _templated(self, hostvars: Any, name: str) -> Any:
        """A host's variable, or None where it is unset or needs state this run lacks."""
        if name not in hostvars:
            return None
        try:
            return self._templar.template(hostvars[name])
        except (AnsibleUndefinedVariable, AnsibleError):
            return None

    def _redis_host(self, name: str, task_vars: dict[str, Any]) -> tuple[RedisHost, list[Problem]]:
        hostvars = task_vars["hostvars"][name]
        host = _address(name, hostvars, self._templated(hostvars, "redis_bind_address"))
        port = self._templated(hostvars, "redis_port")
        if port is None:
            port = DEFAULT_REDIS_PORT
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problem = Problem(
                name, "redis_port", f"{port!r} is not a port", "set it to a number from 1 to 65535"
            )
            return RedisHost(name, join_address(host, DEFAULT_REDIS_PORT)), [problem]
        tls = bool(self._setting(hostvars, "redis", "redis_tls"))
        ca_file = (
            f"{self._path_setting(task_vars, name, 'redis', 'redis_tls_dir')}/ca.crt" if tls else ""
        )
        return RedisHost(name, join_address(host, port), tls=tls, ca_file=ca_file), []

    def _host_input(
        self, name: str, task_vars: dict[str, Any], spec: dict[str, Any], worker_groups: set[str]
    ) -> tuple[HostInput, list[Problem]]:
        hostvars = task_vars["hostvars"][name]
        # A variable that needs facts or other hosts' state this run does not have yet
        # is left out; the role's own argument validation sees it once it is defined.
        user_vars: dict[str, Any] = {}
        for var in hostvars:
            if var.startswith(VAR_PREFIX):
                value = self._templated(hostvars, var)
                if value is not None:
                    user_vars[var] = value
        known = {var: value for var, value in user_vars.items() if var in spec}
        checked = ArgumentSpecValidator(spec).validate(known)
        problems = [
            Problem(
                name, _variable_of(str(error)), str(error), "give it a value of the documented type"
            )
            for error in checked.error_messages
        ]
        # A variable of the wrong type falls back to its default so the host's
        # other problems are still found in this run.
        wrong = {problem.variable for problem in problems}
        valid = {var: checked.validated_parameters[var] for var in known if var not in wrong}
        facts = hostvars.get("ansible_facts", {})
        host = HostInput(
            name=name,
            is_head=name in task_vars["groups"].get(HEAD_GROUP, []),
            in_workers=name in task_vars["groups"].get(WORKERS_GROUP, []),
            worker_groups=tuple(sorted(set(hostvars.get("group_names", [])) & worker_groups)),
            user_vars={
                **{var: value for var, value in user_vars.items() if var not in spec},
                **valid,
            },
            address=_address(name, hostvars, user_vars.get("ray_node_ip")),
            memtotal_mb=facts.get("memtotal_mb"),
            shm_bytes=_shm_bytes(facts),
            host_addresses=tuple(
                str(address)
                for address in [
                    *facts.get("all_ipv4_addresses", []),
                    *facts.get("all_ipv6_addresses", []),
                ]
            ),
        )
        return host, problems


def _with_pool(host: HostInput, task_vars: dict[str, Any], pool_groups: set[str]) -> HostInput:
    """Where the host stands in the pool: join and leave runs treat their hosts as members."""
    groups = task_vars["groups"]
    changing = bool(task_vars.get("rayfleet_pool_change")) and host.name in task_vars.get(
        "ansible_play_hosts_all", []
    )
    return replace(
        host,
        in_pool=host.name in groups.get(POOL_GROUP, []),
        pool_group=bool(set(host.worker_groups) & pool_groups),
        member=pool_member(host.name, groups, joining=changing),
    )


def _address(name: str, hostvars: Any, chosen: Any) -> str:
    """The address a host serves on: the one its variable sets, else its default IPv4."""
    facts = hostvars.get("ansible_facts", {})
    return str(
        chosen or facts.get("default_ipv4", {}).get("address") or hostvars.get("ansible_host", name)
    )


def _shm_bytes(facts: Any) -> int | None:
    """The size of the host's /dev/shm, from its facts' mounts."""
    for mount in facts.get("mounts", []):
        if mount.get("mount") == "/dev/shm" and mount.get("size_total"):
            return int(mount["size_total"])
    return None


def _variable_of(message: str) -> str:
    """The variable an ArgumentSpecValidator message is about."""
    for word in message.replace("'", " ").split():
        if word.startswith(VAR_PREFIX):
            return word
    return "variables"
