"""Unit tests of the pure inventory checks behind rayfleet.cluster.validate_inventory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ansible_collections.rayfleet.cluster.plugins.module_utils.inventory_checks import (
    HEAD_PORTS,
    LEAST_VALUES,
    HostInput,
    Problem,
    RedisHost,
    check_inventory,
    listener_problems,
)
from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import NODE_PORTS
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import build_plan

Defaults = dict[str, Any]

HEAD_ADDRESS = "10.0.0.10"


@pytest.fixture(scope="module")
def defaults(ray_role_options: dict[str, dict[str, Any]]) -> Defaults:
    """The ray roles' real defaults: each option of their argument specs to its ``default``."""
    return {name: option.get("default") for name, option in ray_role_options.items()}


def head(name: str = "head", *, address: str = HEAD_ADDRESS, **user_vars: Any) -> HostInput:
    return HostInput(
        name=name,
        is_head=True,
        in_workers=False,
        worker_groups=(),
        user_vars=user_vars,
        address=address,
    )


def worker(
    name: str,
    groups: tuple[str, ...] = ("ray_workers_cpu",),
    *,
    address: str = "10.0.0.20",
    memtotal_mb: int | None = None,
    **user_vars: Any,
) -> HostInput:
    return HostInput(
        name=name,
        is_head=False,
        in_workers=True,
        worker_groups=groups,
        user_vars=user_vars,
        address=address,
        memtotal_mb=memtotal_mb,
    )


def good_inventory() -> list[HostInput]:
    return [
        head(),
        worker("cpu-1", ("ray_workers_cpu",), address="10.0.0.11"),
        worker("gpu-1", ("ray_workers_gpu",), address="10.0.0.12"),
    ]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(problem) for problem in problems]
    return problems[0]


def problems_of(hosts: list[HostInput], defaults: Defaults) -> list[Problem]:
    problems, _warnings = check_inventory(hosts, defaults)
    return problems


# --- a good inventory ---------------------------------------------------------------------------


def test_good_inventory_has_no_problems_or_warnings(defaults: Defaults) -> None:
    assert check_inventory(good_inventory(), defaults) == ([], [])


def test_layout_of_good_inventory(defaults: Defaults) -> None:
    layout = build_plan(good_inventory(), defaults).node_view()
    # Where each node is and whom it joins: what every role and the autoscaler read.
    assert {
        name: (node["type"], node["group"], node["address"]) for name, node in layout.items()
    } == {
        "head": ("head", "head", HEAD_ADDRESS),
        "cpu-1": ("worker", "ray_workers_cpu", "10.0.0.11"),
        "gpu-1": ("worker", "ray_workers_gpu", "10.0.0.12"),
    }
    for node in layout.values():
        assert (node["cluster"], node["head"]) == ("rayfleet", "head")
        assert node["gcs_address"] == f"{HEAD_ADDRESS}:6379"
        assert node["dashboard_address"] == f"{HEAD_ADDRESS}:8265"
        # Closed by default, monitored, no GCS storage, and no pool.
        assert (node["auth_mode"], node["tls"], node["monitoring"]) == ("token", False, True)
        assert (node["gcs_storage"], node["redis_address"]) == ("none", "")
        assert (node["pool"], node["spare"]) == (False, False)


def test_layout_uses_the_heads_ports(defaults: Defaults) -> None:
    hosts = [
        head(ray_gcs_port=7000, ray_dashboard_port=7001),
        worker("cpu-1", ray_gcs_port=1234, ray_dashboard_port=1235),
    ]
    assert problems_of(hosts, defaults) == []
    layout = build_plan(hosts, defaults).node_view()
    for node in ("head", "cpu-1"):
        assert layout[node]["gcs_address"] == f"{HEAD_ADDRESS}:7000"
        assert layout[node]["dashboard_address"] == f"{HEAD_ADDRESS}:7001"


def test_two_clusters_each_get_their_own_head(defaults: Defaults) -> None:
    hosts = [
        head("head-a", address="10.0.1.1", ray_cluster_name="a"),
        worker("worker-a", address="10.0.1.2", ray_cluster_name="a"),
        head("head-b", address="10.0.2.1", ray_cluster_name="b"),
        worker("worker-b", ("ray_workers_gpu",), address="10.0.2.2", ray_cluster_name="b"),
    ]
    assert check_inventory(hosts, defaults) == ([], [])
    layout = build_plan(hosts, defaults).node_view()
    assert {name: node["cluster"] for name, node in layout.items()} == {
        "head-a": "a",
        "worker-a": "a",
        "head-b": "b",
        "worker-b": "b",
    }
    for name in ("head-a", "worker-a"):
        assert layout[name]["head"] == "head-a"
        assert layout[name]["gcs_address"] == "10.0.1.1:6379"
    for name in ("head-b", "worker-b"):
        assert layout[name]["head"] == "head-b"
        assert layout[name]["gcs_address"] == "10.0.2.1:6379"
    assert layout["worker-b"]["group"] == "ray_workers_gpu"


@pytest.mark.parametrize(
    ("dashboard_host", "expected"),
    [
        ("0.0.0.0", "127.0.0.1:8265"),
        ("::", "127.0.0.1:8265"),
        ("10.9.9.9", "10.9.9.9:8265"),
    ],
)
def test_dashboard_address(defaults: Defaults, dashboard_host: str, expected: str) -> None:
    hosts = [
        head(ray_dashboard_host=dashboard_host, ray_dashboard_all_interfaces=True),
        worker("cpu-1"),
    ]
    assert problems_of(hosts, defaults) == []
    layout = build_plan(hosts, defaults).node_view()
    assert layout["head"]["dashboard_address"] == expected
    assert layout["cpu-1"]["dashboard_address"] == expected
    # The GCS address stays the head's own address.
    assert layout["cpu-1"]["gcs_address"] == f"{HEAD_ADDRESS}:6379"


def test_problem_str_names_host_variable_and_fix() -> None:
    problem = Problem("cpu-1", "ray_version", "'2.60' is not an exact release", "pin one")
    assert str(problem) == "cpu-1: ray_version: '2.60' is not an exact release. Fix: pin one."


# --- membership -------------------------------------------------------------------------------


def test_cluster_without_head(defaults: Defaults) -> None:
    problem = only(problems_of([worker("cpu-1"), worker("cpu-2")], defaults))
    assert problem.host == "cpu-1"
    assert problem.variable == "ray_cluster_name"
    assert "no head" in problem.message
    assert "'rayfleet'" in problem.message
    assert "ray_head" in problem.fix


def test_cluster_with_two_heads(defaults: Defaults) -> None:
    problem = only(problems_of([head("head-1"), head("head-2"), worker("cpu-1")], defaults))
    assert problem.host == "head-2"
    assert problem.variable == "ray_cluster_name"
    assert "two heads" in problem.message
    assert "head-1" in problem.message
    assert "head-2" in problem.message
    assert "one head per cluster" in problem.fix


def test_host_in_head_and_workers(defaults: Defaults) -> None:
    both = HostInput(
        name="head",
        is_head=True,
        in_workers=True,
        worker_groups=("ray_workers_cpu",),
        user_vars={},
        address=HEAD_ADDRESS,
    )
    problem = only(problems_of([both, worker("cpu-1")], defaults))
    assert problem.host == "head"
    assert problem.variable == "groups"
    assert "ray_head" in problem.message
    assert "ray_workers" in problem.message
    assert "one of them" in problem.fix


def test_worker_in_no_worker_group(defaults: Defaults) -> None:
    problem = only(problems_of([head(), worker("lone-1", ())], defaults))
    assert problem.host == "lone-1"
    assert problem.variable == "groups"
    assert "no worker group" in problem.message
    assert "child group of ray_workers" in problem.fix


def test_worker_in_two_worker_groups(defaults: Defaults) -> None:
    hosts = [head(), worker("cpu-1", ("ray_workers_gpu", "ray_workers_cpu"))]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "cpu-1"
    assert problem.variable == "groups"
    assert "two worker groups" in problem.message
    assert "ray_workers_cpu" in problem.message
    assert "ray_workers_gpu" in problem.message
    assert "exactly one" in problem.fix


# --- worker group bounds ------------------------------------------------------------------------


def test_min_workers_above_max_workers(defaults: Defaults) -> None:
    hosts = [head(), worker("cpu-1", ray_min_workers=3, ray_max_workers=2)]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "cpu-1"
    assert problem.variable == "ray_min_workers"
    assert "3" in problem.message
    assert "ray_max_workers 2" in problem.message
    assert "ray_workers_cpu" in problem.message
    assert "ray_min_workers <= ray_max_workers" in problem.fix


@pytest.mark.parametrize(("low", "high"), [(2, 2), (0, 0), (5, None)])
def test_min_workers_within_bounds(defaults: Defaults, low: int, high: int | None) -> None:
    hosts = [head(), worker("cpu-1", ray_min_workers=low, ray_max_workers=high)]
    assert problems_of(hosts, defaults) == []


def test_negative_min_workers(defaults: Defaults) -> None:
    problem = only(problems_of([head(), worker("cpu-1", ray_min_workers=-1)], defaults))
    assert (problem.host, problem.variable) == ("cpu-1", "ray_min_workers")
    assert "-1 is below 0" in problem.message


# --- numbers ----------------------------------------------------------------------------------


def test_every_number_the_roles_take_has_a_rule(ray_role_options: dict[str, Any]) -> None:
    options = ray_role_options
    numbers = {name for name, option in options.items() if option.get("type") in ("int", "float")}
    ruled = {
        *LEAST_VALUES,
        *NODE_PORTS,
        *HEAD_PORTS,
        "ray_min_worker_port",
        "ray_max_worker_port",
        "ray_object_store_memory",
        "ray_object_store_memory_fraction",
        "ray_gpu_nodes",
        "ray_gpu_node_port_step",
    }
    assert numbers - ruled == set()


# A number's partner in a pair rule moves along, so that only the number's own rule speaks.
PARTNERS: dict[str, dict[str, Any]] = {
    "ray_tls_cert_days": {"ray_tls_renew_days": 0},
    "ray_autoscaler_quarantine_max_s": {"ray_autoscaler_quarantine_s": 0},
    "ray_max_workers": {"ray_min_workers": 0},
    "ray_stop_timeout_sec": {"ray_drain_timeout_s": 0},
}


@pytest.mark.parametrize(("variable", "least"), sorted(LEAST_VALUES.items()))
def test_a_number_below_its_least_is_refused(
    defaults: Defaults, variable: str, least: float
) -> None:
    # The other bound of a pair moves along, so that only this rule speaks.
    below = least - 1 if isinstance(defaults[variable], int) or least == 0 else least / 2
    settings: dict[str, Any] = {variable: below, **PARTNERS.get(variable, {})}
    hosts = [head(), worker("cpu-1", **settings)]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("cpu-1", variable)
    assert f"is below {least}" in problem.message
    assert f"use {least} or more" in problem.fix


@pytest.mark.parametrize("variable", sorted(LEAST_VALUES))
def test_a_number_at_its_least_is_taken(defaults: Defaults, variable: str) -> None:
    settings: dict[str, Any] = {variable: LEAST_VALUES[variable], **PARTNERS.get(variable, {})}
    hosts = [head(), worker("cpu-1", **settings)]
    assert problems_of(hosts, defaults) == []


@pytest.mark.parametrize("renew", [825, 900])
def test_certificates_renewed_at_or_beyond_their_lifetime_are_refused(
    defaults: Defaults, renew: int
) -> None:
    hosts = [head(), worker("cpu-1", ray_tls_cert_days=825, ray_tls_renew_days=renew)]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("cpu-1", "ray_tls_renew_days")
    assert "every run would renew" in problem.message


def test_a_longest_quarantine_below_the_first_is_refused(defaults: Defaults) -> None:
    hosts = [
        head(ray_autoscaler_quarantine_s=600, ray_autoscaler_quarantine_max_s=300),
        worker("cpu-1"),
    ]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("head", "ray_autoscaler_quarantine_max_s")


@pytest.mark.parametrize("store", [-1, 1, 75 * 1024 * 1024 - 1])
def test_an_object_store_below_rays_least_is_refused(defaults: Defaults, store: int) -> None:
    problem = only(problems_of([head(), worker("cpu-1", ray_object_store_memory=store)], defaults))
    assert (problem.host, problem.variable) == ("cpu-1", "ray_object_store_memory")
    assert "below Ray's least object store" in problem.message


@pytest.mark.parametrize("store", [0, 75 * 1024 * 1024])
def test_an_object_store_of_zero_or_rays_least_is_taken(defaults: Defaults, store: int) -> None:
    assert problems_of([head(), worker("cpu-1", ray_object_store_memory=store)], defaults) == []


# --- ports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_head", "variable", "port", "other"),
    [
        (True, "ray_gcs_port", 8265, "ray_dashboard_port"),
        (True, "ray_client_server_port", 6379, "ray_gcs_port"),
        (False, "ray_node_manager_port", 6381, "ray_object_manager_port"),
        (False, "ray_runtime_env_agent_port", 8090, "ray_metrics_export_port"),
    ],
)
def test_two_equal_ports(
    defaults: Defaults, on_head: bool, variable: str, port: int, other: str
) -> None:
    setting: dict[str, Any] = {variable: port}
    hosts = [head(**setting), worker("cpu-1")] if on_head else [head(), worker("cpu-1", **setting)]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == ("head" if on_head else "cpu-1")
    # One of the two clashing variables is the problem's, the other is named in its message.
    assert problem.variable in {variable, other}
    assert ({variable, other} - {problem.variable}).pop() in problem.message
    assert str(port) in problem.message
    assert "own number" in problem.fix


def test_head_ports_do_not_matter_on_workers(defaults: Defaults) -> None:
    # A worker runs no GCS or dashboard, so their ports cannot clash there.
    hosts = [head(), worker("cpu-1", ray_gcs_port=6380, ray_dashboard_port=15000)]
    assert problems_of(hosts, defaults) == []


@pytest.mark.parametrize("port", [0, -1, 65536, 70000, "6379"])
@pytest.mark.parametrize(
    ("on_head", "variable"),
    [
        (True, "ray_gcs_port"),
        (True, "ray_dashboard_port"),
        (False, "ray_metrics_export_port"),
        (False, "ray_min_worker_port"),
    ],
)
def test_port_out_of_range(defaults: Defaults, on_head: bool, variable: str, port: object) -> None:
    setting: dict[str, Any] = {variable: port}
    hosts = [head(**setting), worker("cpu-1")] if on_head else [head(), worker("cpu-1", **setting)]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == ("head" if on_head else "cpu-1")
    assert problem.variable == variable
    assert repr(port) in problem.message
    assert "1 to 65535" in problem.fix


@pytest.mark.parametrize(
    ("on_head", "variable", "port"),
    [
        (True, "ray_dashboard_port", 15000),
        (True, "ray_gcs_port", 10002),
        (False, "ray_node_manager_port", 19999),
        (False, "ray_metrics_export_port", 12345),
    ],
)
def test_port_in_worker_port_range(
    defaults: Defaults, on_head: bool, variable: str, port: int
) -> None:
    setting: dict[str, Any] = {variable: port}
    hosts = [head(**setting), worker("cpu-1")] if on_head else [head(), worker("cpu-1", **setting)]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == ("head" if on_head else "cpu-1")
    assert problem.variable == variable
    assert str(port) in problem.message
    assert "10002-19999" in problem.message
    assert "ray_min_worker_port" in problem.fix
    assert "ray_max_worker_port" in problem.fix


def test_worker_port_range_moves_with_its_bounds(defaults: Defaults) -> None:
    setting: dict[str, Any] = {
        "ray_dashboard_port": 15000,
        "ray_min_worker_port": 20000,
        "ray_max_worker_port": 29999,
    }
    assert problems_of([head(**setting), worker("cpu-1")], defaults) == []


def test_inverted_worker_port_range(defaults: Defaults) -> None:
    hosts = [head(), worker("cpu-1", ray_min_worker_port=30000, ray_max_worker_port=20000)]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("cpu-1", "ray_min_worker_port")
    assert "30000" in problem.message
    assert "20000" in problem.message


# --- versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.60", ">=2.60.0", "2.*", "latest", "2.60.0 ", "v2.60.0"])
def test_version_must_be_exact(defaults: Defaults, version: str) -> None:
    problems = problems_of(
        [head(ray_version=version), worker("cpu-1", ray_version=version)], defaults
    )
    assert [(problem.host, problem.variable) for problem in problems] == [
        ("head", "ray_version"),
        ("cpu-1", "ray_version"),
    ]
    for problem in problems:
        assert repr(version) in problem.message
        assert "exact" in problem.message
        assert 'ray_version: "' in problem.fix


@pytest.mark.parametrize("version", ["2.60.0", "2.61.1", "2.62.0rc1", "3.0.0.post1"])
def test_exact_version_accepted(defaults: Defaults, version: str) -> None:
    hosts = [head(ray_version=version), worker("cpu-1", ray_version=version)]
    assert problems_of(hosts, defaults) == []


def test_versions_differ_across_a_cluster(defaults: Defaults) -> None:
    hosts = [head(), worker("cpu-1"), worker("cpu-2", ray_version="2.59.0")]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "cpu-2"
    assert problem.variable == "ray_version"
    assert "2.59.0" in problem.message
    assert defaults["ray_version"] in problem.message
    assert "every node" in problem.fix


def test_versions_may_differ_between_clusters(defaults: Defaults) -> None:
    hosts = [
        head("head-a", ray_cluster_name="a", ray_version="2.59.0"),
        worker("worker-a", ray_cluster_name="a", ray_version="2.59.0"),
        head("head-b", ray_cluster_name="b"),
        worker("worker-b", ray_cluster_name="b"),
    ]
    assert problems_of(hosts, defaults) == []


# --- memory -----------------------------------------------------------------------------------


def test_object_store_larger_than_memory(defaults: Defaults) -> None:
    store = 2 * 1024**3
    hosts = [head(), worker("cpu-1", memtotal_mb=1024, ray_object_store_memory=store)]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "cpu-1"
    assert problem.variable == "ray_object_store_memory"
    assert str(store) in problem.message
    assert "1024 MiB" in problem.message
    assert "lower it" in problem.fix


@pytest.mark.parametrize(
    ("memtotal_mb", "store"),
    [(1024, 1024**3), (1024, 512 * 1024**2), (None, 10**15), (1024, 0)],
)
def test_object_store_that_fits(defaults: Defaults, memtotal_mb: int | None, store: int) -> None:
    hosts = [head(), worker("cpu-1", memtotal_mb=memtotal_mb, ray_object_store_memory=store)]
    assert problems_of(hosts, defaults) == []


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_object_store_fraction_out_of_range(defaults: Defaults, fraction: float) -> None:
    hosts = [head(), worker("cpu-1", ray_object_store_memory_fraction=fraction)]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("cpu-1", "ray_object_store_memory_fraction")


# --- unknown variables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("ray_num_cpu", "ray_num_cpus"),
        ("ray_num_gpu", "ray_num_gpus"),
        ("ray_versoin", "ray_version"),
        ("ray_gcs_prot", "ray_gcs_port"),
    ],
)
def test_typo_suggests_the_known_variable(defaults: Defaults, typo: str, meant: str) -> None:
    typo_setting: dict[str, Any] = {typo: 2}
    problems, warnings = check_inventory([head(), worker("cpu-1", **typo_setting)], defaults)
    problem = only(problems)
    assert problem.host == "cpu-1"
    assert problem.variable == typo
    assert "not a rayfleet variable" in problem.message
    assert f"did you mean {meant}?" in problem.fix
    assert warnings == []


def test_unknown_variable_without_close_match_is_a_warning(defaults: Defaults) -> None:
    hosts = [head(), worker("cpu-1", ray_flux_capacitor=88, other_tool_setting=1)]
    problems, warnings = check_inventory(hosts, defaults)
    assert problems == []
    assert len(warnings) == 1
    assert "cpu-1" in warnings[0]
    assert "ray_flux_capacitor" in warnings[0]
    assert "ignored" in warnings[0]


# --- resources and labels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "label", ["ray.io/accelerator-type", "ray.io/node-id", "ray.io/market-type"]
)
def test_reserved_label_prefix(defaults: Defaults, label: str) -> None:
    hosts = [head(), worker("cpu-1", ray_labels={label: "x", "example.com/pool": "a"})]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "cpu-1"
    assert problem.variable == "ray_labels"
    assert label in problem.message
    assert "ray.io/" in problem.message
    assert "prefix of your own" in problem.fix


@pytest.mark.parametrize(
    ("resource", "variable"),
    [
        ("CPU", "ray_num_cpus"),
        ("GPU", "ray_num_gpus"),
        ("memory", "ray_memory"),
        ("object_store_memory", "ray_object_store_memory"),
    ],
)
def test_reserved_resource_name(defaults: Defaults, resource: str, variable: str) -> None:
    hosts = [head(ray_resources={resource: 4, "accelerator_a100": 1}), worker("cpu-1")]
    problem = only(problems_of(hosts, defaults))
    assert problem.host == "head"
    assert problem.variable == "ray_resources"
    assert resource in problem.message
    assert "built-in" in problem.message
    assert problem.fix == f"set {variable} instead"


def test_custom_resources_and_labels_accepted(defaults: Defaults) -> None:
    hosts = [
        head(ray_resources={"cpu_workers": 100}, ray_labels={"rayfleet.io/pool": "a"}),
        worker("cpu-1", ray_labels={"ray.iox/thing": "b"}),
    ]
    assert problems_of(hosts, defaults) == []


def test_every_problem_is_reported(defaults: Defaults) -> None:
    """Problems of different hosts and checks add up instead of stopping at the first."""
    hosts = [
        head(ray_gcs_port=70000),
        worker("cpu-1", ray_num_cpu=2),
        worker("gpu-1", ("ray_workers_gpu",), ray_labels={"ray.io/x": "y"}),
    ]
    problems = problems_of(hosts, defaults)
    assert sorted((problem.host, problem.variable) for problem in problems) == [
        ("cpu-1", "ray_num_cpu"),
        ("gpu-1", "ray_labels"),
        ("head", "ray_gcs_port"),
    ]


# --- GCS storage ----------------------------------------------------------------------------------

REDIS = RedisHost("redis-1", "10.0.0.30:6379")
TLS_REDIS = RedisHost("redis-1", "10.0.0.30:6379", tls=True, ca_file="/inv/.credentials/ca.crt")


def storage_problems(
    hosts: list[HostInput], defaults: Defaults, redis_hosts: tuple[RedisHost, ...] = ()
) -> list[Problem]:
    problems, _warnings = check_inventory(hosts, defaults, redis_hosts)
    return problems


def test_redis_storage_uses_the_redis_groups_first_host(defaults: Defaults) -> None:
    hosts = [head(ray_gcs_storage="redis"), worker("cpu-1")]
    second = RedisHost("redis-2", "10.0.0.31:6379")
    assert storage_problems(hosts, defaults, (REDIS, second)) == []
    layout = build_plan(hosts, defaults, (REDIS, second)).node_view()
    for node in ("head", "cpu-1"):
        assert layout[node]["gcs_storage"] == "redis"
        assert layout[node]["redis_address"] == "10.0.0.30:6379"
        assert layout[node]["namespace"] == "rayfleet"
    # A Redis of the inventory needs no reachability check from the head, and the head
    # connects as its cluster's own user, which the redis role declares.
    assert layout["head"]["external_redis"] == ""
    assert layout["head"]["redis_user"] == "ray-rayfleet"


def test_heads_reach_a_redis_that_serves_tls_over_tls_with_its_ca(defaults: Defaults) -> None:
    hosts = [head(ray_gcs_storage="redis"), worker("cpu-1")]
    layout = build_plan(hosts, defaults, (TLS_REDIS,)).node_view()
    assert layout["head"]["redis_tls"] is True
    assert layout["head"]["redis_ca_file"] == "/inv/.credentials/ca.crt"
    # Without TLS, no CA: the ray role removes a CA left from when it had.
    plain = build_plan(hosts, defaults, (REDIS,)).node_view()
    assert (plain["head"]["redis_tls"], plain["head"]["redis_ca_file"]) == (False, "")


def test_an_external_redis_address_wins_and_is_checked_from_the_head(defaults: Defaults) -> None:
    hosts = [head(ray_gcs_storage="redis", ray_redis_address="redis.example.com:6390")]
    layout = build_plan(hosts, defaults, (REDIS,)).node_view()
    assert layout["head"]["redis_address"] == "redis.example.com:6390"
    assert layout["head"]["external_redis"] == "redis.example.com:6390"
    # rayfleet declares no user on a Redis it does not run: the default user it is.
    assert layout["head"]["redis_user"] == ""
    # The redis group's TLS is its own Redis's, not the one the head names.
    assert build_plan(hosts, defaults, (TLS_REDIS,)).node_view()["head"]["redis_tls"] is False


def test_redis_storage_without_any_redis_is_an_error(defaults: Defaults) -> None:
    problem = only(storage_problems([head(ray_gcs_storage="redis")], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_gcs_storage")
    assert "redis group has no host" in problem.message
    assert "ray_redis_address" in problem.fix


def test_storage_is_read_from_the_head_only(defaults: Defaults) -> None:
    # A worker's own setting does not make its cluster need a Redis.
    hosts = [head(), worker("cpu-1", ray_gcs_storage="redis")]
    assert storage_problems(hosts, defaults) == []
    assert build_plan(hosts, defaults).node_view()["cpu-1"]["gcs_storage"] == "none"


def test_two_clusters_with_one_namespace_on_one_redis_is_an_error(defaults: Defaults) -> None:
    hosts = [
        head("head-a", ray_cluster_name="a", ray_gcs_storage="redis"),
        head(
            "head-b",
            address="10.0.0.11",
            ray_cluster_name="b",
            ray_gcs_storage="redis",
            ray_gcs_storage_namespace="a",
        ),
    ]
    problem = only(storage_problems(hosts, defaults, (REDIS,)))
    assert (problem.host, problem.variable) == ("head-b", "ray_gcs_storage_namespace")
    assert "cluster 'a'" in problem.message


def test_clusters_sharing_a_redis_get_their_names_as_namespaces(defaults: Defaults) -> None:
    hosts = [
        head("head-a", ray_cluster_name="a", ray_gcs_storage="redis"),
        head("head-b", address="10.0.0.11", ray_cluster_name="b", ray_gcs_storage="redis"),
    ]
    assert storage_problems(hosts, defaults, (REDIS,)) == []
    layout = build_plan(hosts, defaults, (REDIS,)).node_view()
    assert (layout["head-a"]["namespace"], layout["head-b"]["namespace"]) == ("a", "b")


def test_the_same_namespace_on_different_redis_is_fine(defaults: Defaults) -> None:
    hosts = [
        head("head-a", ray_cluster_name="a", ray_gcs_storage="redis"),
        head(
            "head-b",
            address="10.0.0.11",
            ray_cluster_name="b",
            ray_gcs_storage="redis",
            ray_gcs_storage_namespace="a",
            ray_redis_address="10.0.0.99:6379",
        ),
    ]
    assert storage_problems(hosts, defaults, (REDIS,)) == []


@pytest.mark.parametrize("namespace", ["a@b", "*", "with space", "-lead", ""])
def test_namespace_that_would_leak_into_other_clusters_keys_is_an_error(
    defaults: Defaults, namespace: str
) -> None:
    hosts = [head(ray_gcs_storage="redis", ray_gcs_storage_namespace=namespace)]
    problem = only(storage_problems(hosts, defaults, (REDIS,)))
    assert problem.variable == "ray_gcs_storage_namespace"


def test_rocksdb_needs_no_redis(defaults: Defaults) -> None:
    hosts = [head(ray_gcs_storage="rocksdb"), worker("cpu-1")]
    assert storage_problems(hosts, defaults) == []
    layout = build_plan(hosts, defaults).node_view()
    assert layout["cpu-1"]["gcs_storage"] == "rocksdb"
    assert layout["cpu-1"]["redis_address"] == ""


def test_ipv6_head_addresses_are_bracketed(defaults: Defaults) -> None:
    layout = build_plan([head(address="fd00::10")], defaults).node_view()
    assert layout["head"]["gcs_address"] == "[fd00::10]:6379"
    # The dashboard's URL (http://host:port) needs the brackets too.
    assert layout["head"]["dashboard_address"] == "[fd00::10]:8265"


# --- the autoscaler's pool ----------------------------------------------------------------------


def spare(name: str, group: str = "pool_small", **user_vars: Any) -> HostInput:
    return replace(
        worker(name, (group,), ray_num_cpus=2, **user_vars), in_pool=True, pool_group=True
    )


def test_pool_hosts_are_spare_until_they_are_members(defaults: Defaults) -> None:
    hosts = [
        head(ray_autoscaling=True),
        spare("small-1"),
        replace(spare("small-2"), member=True),
    ]
    assert problems_of(hosts, defaults) == []
    layout = build_plan(hosts, defaults).node_view()
    assert layout["head"]["autoscaling"] is True
    assert layout["head"]["vars"] == {"ray_autoscaling": True}
    assert (layout["small-1"]["pool"], layout["small-1"]["spare"]) == (True, True)
    assert (layout["small-2"]["pool"], layout["small-2"]["spare"]) == (True, False)
    assert layout["small-1"]["vars"] == {"ray_num_cpus": 2}


def test_a_pool_needs_an_autoscaling_head(defaults: Defaults) -> None:
    problem = only(problems_of([head(), spare("small-1")], defaults))
    assert (problem.host, problem.variable) == ("small-1", "ray_autoscaling")
    assert "set ray_autoscaling: true for head" in problem.fix


def test_a_pool_node_type_declares_its_cpus(defaults: Defaults) -> None:
    host = replace(spare("small-1"), user_vars={})
    problem = only(problems_of([head(ray_autoscaling=True), host], defaults))
    assert (problem.host, problem.variable) == ("small-1", "ray_num_cpus")
    assert "pool_small" in problem.fix


def test_a_gpu_pool_node_type_declares_its_gpus(defaults: Defaults) -> None:
    # A pool of GPU hosts joins and leaves like any other, once the autoscaler knows its GPUs.
    host = spare("gpu-7", "pool_gpu", ray_gpu=True)
    problem = only(problems_of([head(ray_autoscaling=True), host], defaults))
    assert (problem.host, problem.variable) == ("gpu-7", "ray_num_gpus")
    assert "pool_gpu" in problem.fix
    declared = spare("gpu-7", "pool_gpu", ray_gpu=True, ray_num_gpus=4)
    assert problems_of([head(ray_autoscaling=True), declared], defaults) == []
    assert build_plan([head(ray_autoscaling=True), declared], defaults).nodes["gpu-7"].gpu


def test_pool_membership_goes_through_a_node_type(defaults: Defaults) -> None:
    loose = replace(worker("cpu-9", ray_num_cpus=2), in_pool=True)
    problem = only(problems_of([head(ray_autoscaling=True), loose], defaults))
    assert (problem.host, problem.variable) == ("cpu-9", "groups")
    assert "ray_workers_cpu under ray_pool's children" in problem.fix


def test_the_head_is_never_in_the_pool(defaults: Defaults) -> None:
    problem = only(problems_of([replace(head(ray_autoscaling=True), in_pool=True)], defaults))
    assert (problem.host, problem.variable) == ("head", "groups")


# --- token authentication -----------------------------------------------------------------------


def test_auth_and_tls_are_the_heads_for_the_whole_cluster(defaults: Defaults) -> None:
    hosts = [
        head(ray_auth_mode="disabled", ray_tls=True),
        worker("cpu-1", ray_auth_mode="token", ray_tls=False),
    ]
    layout = build_plan(hosts, defaults).node_view()
    assert {name: (node["auth_mode"], node["tls"]) for name, node in layout.items()} == {
        "head": ("disabled", True),
        "cpu-1": ("disabled", True),
    }


def test_disabled_auth_is_allowed_with_a_warning_naming_head_variable_and_fix(
    defaults: Defaults,
) -> None:
    problems, warnings = check_inventory([head(ray_auth_mode="disabled")], defaults)
    assert problems == []
    assert len(warnings) == 1
    assert warnings[0].startswith("head: ray_auth_mode: disabled: anyone who reaches cluster")
    assert "Fix: remove ray_auth_mode" in warnings[0]


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_a_dashboard_on_every_interface_needs_its_own_setting(
    defaults: Defaults, bind: str
) -> None:
    problem = only(problems_of([head(ray_dashboard_host=bind)], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_dashboard_host")
    assert "ray_dashboard_all_interfaces: true" in problem.fix
    allowed = [head(ray_dashboard_host=bind, ray_dashboard_all_interfaces=True)]
    assert problems_of(allowed, defaults) == []


ON_THE_HOST = ("10.0.0.10", "192.168.7.3", "fd00::10")


def test_a_node_address_the_host_does_not_have_is_refused(defaults: Defaults) -> None:
    chosen = replace(head(address="10.0.0.99", ray_node_ip="10.0.0.99"), host_addresses=ON_THE_HOST)
    problem = only(problems_of([chosen], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_node_ip")
    assert "10.0.0.99 is not an address of this host" in problem.message
    assert "192.168.7.3" in problem.message


def test_a_dashboard_address_the_head_does_not_have_is_refused(defaults: Defaults) -> None:
    chosen = replace(head(ray_dashboard_host="10.9.9.9"), host_addresses=ON_THE_HOST)
    problem = only(problems_of([chosen], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_dashboard_host")


@pytest.mark.parametrize(
    "chosen",
    [
        {"address": "192.168.7.3", "ray_node_ip": "192.168.7.3"},
        {"address": "fd00:0:0:0::10", "ray_node_ip": "fd00:0:0:0::10"},
        {"ray_dashboard_host": "127.0.0.1"},
        {"ray_dashboard_host": "head.example.com"},
    ],
    ids=["second-interface", "ipv6-written-long", "loopback", "name"],
)
def test_the_hosts_own_addresses_pass(defaults: Defaults, chosen: dict[str, str]) -> None:
    host = replace(head(**chosen), host_addresses=ON_THE_HOST)
    assert problems_of([host], defaults) == []


def test_without_facts_the_address_is_not_judged(defaults: Defaults) -> None:
    assert problems_of([head(address="10.0.0.99", ray_node_ip="10.0.0.99")], defaults) == []


def test_a_host_whose_address_is_a_name_is_refused(defaults: Defaults) -> None:
    problem = only(problems_of([head(address="head.example.com")], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_node_ip")
    assert "'head.example.com' is not an IP address" in problem.message


def test_a_vaulted_token_stays_out_of_the_layout(defaults: Defaults) -> None:
    layout = build_plan([head(ray_autoscaling=True, ray_auth_token="s3cret")], defaults).node_view()
    assert layout["head"]["vars"] == {"ray_autoscaling": True}


# --- listeners beside Ray's -------------------------------------------------------------------

RAY_PORTS = {"ray_gcs_port": 6379, "ray_dashboard_port": 8265, "ray_metrics_export_port": 8090}


def test_a_listener_on_a_ray_port_is_refused() -> None:
    problem = only(
        listener_problems("head", RAY_PORTS, {"node_exporter_port": 8265}, (10002, 19999))
    )
    assert (problem.host, problem.variable) == ("head", "node_exporter_port")
    assert "port 8265 is also ray_dashboard_port" in problem.message


def test_two_listeners_of_rayfleets_on_one_port_are_refused() -> None:
    others = {"prometheus_port": 9100, "node_exporter_port": 9100}
    problem = only(listener_problems("mon-1", {}, others, None))
    assert (problem.host, problem.variable) == ("mon-1", "prometheus_port")
    assert "also node_exporter_port" in problem.message


def test_a_listener_in_the_worker_port_range_is_refused() -> None:
    problem = only(
        listener_problems("cpu-1", RAY_PORTS, {"node_exporter_port": 12000}, (10002, 19999))
    )
    assert problem.variable == "node_exporter_port"
    assert "worker port range 10002-19999" in problem.message


def test_listeners_on_ports_of_their_own_pass() -> None:
    others = {"node_exporter_port": 9100, "prometheus_port": 9090, "grafana_port": 3000}
    assert listener_problems("head", RAY_PORTS, others, (10002, 19999)) == []


# --- what Ray would refuse in resources and labels ------------------------------------------

LABEL_KEYS = ["size", "example.com/size", "a.b-c/x_y", "-bad", "bad-", "x" * 64, "a..b/c", "a/b/c"]
LABEL_VALUES = ["large", "", "a.b_c-d", "-x", "x" * 64, "with space", "ü"]


def rays_verdict(key: str, value: str) -> bool:
    """Whether Ray's own label validation takes the label (ray is in the test venv)."""
    from ray._private.label_utils import validate_node_label_syntax  # noqa: PLC0415

    try:
        validate_node_label_syntax({key: value})
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("key", LABEL_KEYS)
@pytest.mark.parametrize("value", LABEL_VALUES)
def test_labels_are_judged_as_ray_judges_them(defaults: Defaults, key: str, value: str) -> None:
    problems = problems_of([head(), worker("cpu-1", ray_labels={key: value})], defaults)
    assert (problems == []) == rays_verdict(key, value), [str(p) for p in problems]
    assert all((p.host, p.variable) == ("cpu-1", "ray_labels") for p in problems)


@pytest.mark.parametrize("value", [8, True, None])
def test_a_label_value_that_is_not_text_is_refused(defaults: Defaults, value: Any) -> None:
    problem = only(problems_of([head(), worker("cpu-1", ray_labels={"tier": value})], defaults))
    assert "is not a label value" in problem.message


@pytest.mark.parametrize("quantity", [-1, 0.5, 2e14, "4", True])
def test_resources_ray_refuses_are_refused(defaults: Defaults, quantity: Any) -> None:
    problem = only(
        problems_of([head(), worker("cpu-1", ray_resources={"small": quantity})], defaults)
    )
    assert (problem.host, problem.variable) == ("cpu-1", "ray_resources")
    assert "small" in problem.message


@pytest.mark.parametrize("quantity", [0, 4, 4.0, 100e12])
def test_whole_resource_quantities_are_taken(defaults: Defaults, quantity: float) -> None:
    assert problems_of([head(), worker("cpu-1", ray_resources={"small": quantity})], defaults) == []


@pytest.mark.parametrize("name", ["my cluster", "-prod", "x" * 64, "prod/eu"])
def test_a_cluster_name_ray_cannot_label_nodes_with_is_refused(
    defaults: Defaults, name: str
) -> None:
    hosts = [head(ray_cluster_name=name), worker("cpu-1", ray_cluster_name=name)]
    problem = only(problems_of(hosts, defaults))
    assert (problem.host, problem.variable) == ("head", "ray_cluster_name")


def test_a_minimum_driver_that_is_no_version_is_refused(defaults: Defaults) -> None:
    problem = only(problems_of([head(ray_gpu_min_driver_version="latest")], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_gpu_min_driver_version")
    assert problems_of([head(ray_gpu_min_driver_version="")], defaults) == []


def test_an_object_store_larger_than_dev_shm_is_refused(defaults: Defaults) -> None:
    small_shm = replace(head(ray_object_store_memory=2 * 1024**3), shm_bytes=1024**3)
    problem = only(problems_of([small_shm], defaults))
    assert (problem.host, problem.variable) == ("head", "ray_object_store_memory")
    assert "does not fit the host's /dev/shm (1073741824 bytes)" in problem.message
    fits = replace(head(ray_object_store_memory=512 * 1024**2), shm_bytes=1024**3)
    assert problems_of([fits], defaults) == []


# A GPU worker host split into several Ray nodes (ray_gpu_nodes).


def split_worker(**user_vars: Any) -> HostInput:
    return worker("gpu-1", ("ray_workers_gpu",), address="10.0.0.12", ray_gpu=True, **user_vars)


def test_a_gpu_host_split_into_nodes_gets_a_node_per_slot(defaults: Defaults) -> None:
    hosts = [head(), split_worker(ray_gpu_nodes=3)]
    assert problems_of(hosts, defaults) == []
    plan = build_plan(hosts, defaults)
    assert plan.hosts()["gpu-1"] == ["gpu-1", "gpu-1/1", "gpu-1/2"]
    step = defaults["ray_gpu_node_port_step"]
    assert [(node.slot, node.metrics_port, node.agent_port) for node in plan.nodes_on("gpu-1")] == [
        (
            slot,
            defaults["ray_metrics_export_port"] + slot * step,
            defaults["ray_dashboard_agent_listen_port"] + slot * step,
        )
        for slot in range(3)
    ]
    # A host that is no GPU host stays one node, whatever ray_gpu_nodes says.
    assert build_plan([head(), worker("cpu-1", ray_gpu_nodes=2)], defaults).hosts()["cpu-1"] == [
        "cpu-1"
    ]


@pytest.mark.parametrize(
    ("host", "variable", "says"),
    [
        (split_worker(ray_gpu_nodes=0), "ray_gpu_nodes", "0 is not a whole number from 1"),
        (split_worker(ray_gpu_node_port_step=0), "ray_gpu_node_port_step", "not a whole number"),
        (
            split_worker(ray_gpu_nodes=2, ray_min_worker_port=10002, ray_max_worker_port=10002),
            "ray_gpu_nodes",
            "cannot share the 1 worker port(s)",
        ),
        # Slot 1's ports run into Ray's worker port range.
        (
            split_worker(ray_gpu_nodes=2, ray_gpu_node_port_step=4000),
            "ray_node_manager_port + 1 x ray_gpu_node_port_step",
            "port 10380 lies in Ray's worker port range",
        ),
        # Slot 1's ports run into slot 0's.
        (
            split_worker(ray_gpu_nodes=2, ray_gpu_node_port_step=1),
            "ray_node_manager_port + 1 x ray_gpu_node_port_step",
            "port 6381 is also ray_object_manager_port",
        ),
        (
            split_worker(ray_gpu_nodes=2, ray_gpu_node_port_step=20000),
            "ray_dashboard_agent_listen_port + 1 x ray_gpu_node_port_step",
            "72365 is not a port",
        ),
        # Each node's explicit object store must fit /dev/shm alongside the others'.
        (
            replace(
                split_worker(ray_gpu_nodes=2, ray_object_store_memory=3 * 2**30),
                shm_bytes=5 * 2**30,
            ),
            "ray_object_store_memory",
            "for each of its 2 nodes does not fit the host's /dev/shm",
        ),
    ],
)
def test_a_split_that_cannot_run_is_refused(
    defaults: Defaults, host: HostInput, variable: str, says: str
) -> None:
    found = [
        problem for problem in problems_of([head(), host], defaults) if problem.variable == variable
    ]
    assert found and says in only(found).message and only(found).host == "gpu-1"


def test_a_split_head_or_pool_host_is_refused(defaults: Defaults) -> None:
    # Not a GPU host: ray_gpu_nodes means nothing to it, as ray_gpu_mig.
    assert problems_of([head(ray_gpu_nodes=2), worker("cpu-1", ray_gpu_nodes=2)], defaults) == []
    split_head = head(ray_gpu=True, ray_gpu_nodes=2)
    assert "a cluster has one head node" in only(problems_of([split_head], defaults)).message
    pool_host = replace(
        split_worker(ray_gpu_nodes=2, ray_num_cpus=4, ray_num_gpus=2), in_pool=True, pool_group=True
    )
    found = problems_of([head(ray_autoscaling=True), pool_host], defaults)
    assert "the autoscaler counts one Ray node per pool host" in only(found).message


def test_a_worker_stops_only_after_its_drain(defaults: Defaults) -> None:
    short = worker("cpu-1", ray_drain_timeout_s=50, ray_stop_timeout_sec=60)
    problem = only(problems_of([head(), short], defaults))
    assert (problem.variable, problem.host) == ("ray_stop_timeout_sec", "cpu-1")
    assert "mid-drain" in problem.message and "at least ray_drain_timeout_s + 20" in problem.fix
    # The head never drains; a worker that does not drain stops at once.
    assert problems_of([head(ray_drain_timeout_s=50, ray_stop_timeout_sec=60)], defaults) == []
    idle = worker("cpu-1", ray_drain_timeout_s=0, ray_stop_timeout_sec=5)
    assert problems_of([head(), idle], defaults) == []
