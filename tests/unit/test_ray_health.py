"""The health check's verdicts from what the head, the nodes and Redis answered."""

from __future__ import annotations

import json
from collections.abc import Callable

from ansible_collections.rayfleet.cluster.plugins.module_utils.ray_health import (
    ExpectedNode,
    HeadProbes,
    Probe,
    as_result,
    cluster_health,
    first_success,
    gcs_event_loop_lag_ms,
    redis_health,
)

# As the head's metrics export port serves them (Ray 2.60), trimmed.
METRICS = "\n".join(
    [
        "# HELP ray_io_context_event_loop_lag_ms Latency of a task from post to execution",
        'ray_io_context_event_loop_lag_ms{Component="gcs_server",Name="main_io_context"} 3.0',
        'ray_io_context_event_loop_lag_ms{Component="gcs_server",Name="task_io_context"} 12.0',
        'ray_io_context_event_loop_lag_ms{Component="raylet",Name="raylet_main_io_context"} 900.0',
    ]
)
HEAD = ExpectedNode("head", "10.0.0.10", 52365)
WORKER = ExpectedNode("cpu-1", "10.0.0.11", 52365)
LIMITS = {"max_dashboard_latency_ms": 2000, "max_event_loop_lag_ms": 1000}


def nodes_body(**states: str) -> str:
    result = [{"node_ip": ip, "state": state} for ip, state in states.items()]
    return json.dumps({"data": {"result": {"result": result}}})


def probes(states: dict[str, str], metrics: str = METRICS, seconds: float = 0.004) -> HeadProbes:
    return HeadProbes(
        gcs=Probe(True, "HTTP 200", 0.001, "success"),
        nodes=Probe(True, "HTTP 200", seconds, nodes_body(**states)),
        metrics=Probe(True, "HTTP 200", 0.002, metrics),
    )


def raylets(down: set[str]) -> Callable[[str, int], Probe]:
    def probe(address: str, port: int) -> Probe:
        if address in down:
            return Probe(False, "[Errno 111] Connection refused")
        return Probe(True, "HTTP 200", 0.001, "success")

    return probe


def test_the_gcs_lag_is_the_largest_of_its_loops_only() -> None:
    assert gcs_event_loop_lag_ms(METRICS) == 12.0
    assert gcs_event_loop_lag_ms("") is None


def test_a_healthy_cluster_has_one_healthy_line_per_node() -> None:
    states = {"10.0.0.10": "ALIVE", "10.0.0.11": "ALIVE"}
    verdicts = cluster_health(HEAD, [WORKER, HEAD], probes(states), raylets(set()), LIMITS)
    result = as_result(verdicts)
    assert result["healthy"]
    assert result["lines"] == [
        "cpu-1 (10.0.0.11): healthy: raylet ok, ALIVE",
        "head (10.0.0.10): healthy: raylet ok, ALIVE; dashboard API 4 ms; GCS event loop lag 12 ms",
    ]


def test_a_stopped_worker_is_named_and_nothing_else() -> None:
    # Ray keeps a stopped node as DEAD (the same address may also have an older DEAD entry).
    states = {"10.0.0.10": "ALIVE", "10.0.0.11": "DEAD"}
    verdicts = cluster_health(HEAD, [WORKER, HEAD], probes(states), raylets({"10.0.0.11"}), LIMITS)
    result = as_result(verdicts)
    assert result["unhealthy"] == ["cpu-1"]
    assert result["lines"][0] == (
        "cpu-1 (10.0.0.11): UNHEALTHY: raylet: [Errno 111] Connection refused; Ray node state: DEAD"
    )


def test_a_slow_dashboard_and_a_lagging_gcs_make_the_head_unhealthy() -> None:
    lagging = METRICS.replace("} 12.0", "} 4000.0")
    states = {"10.0.0.10": "ALIVE"}
    [head] = cluster_health(HEAD, [HEAD], probes(states, lagging, 3.5), raylets(set()), LIMITS)
    assert head.problems == (
        "dashboard API: 3500 ms (more than 2000 ms)",
        "GCS event loop lag: 4000 ms (more than 1000 ms)",
    )


def test_an_unhealthy_gcs_fails_the_head() -> None:
    unhealthy = HeadProbes(
        gcs=Probe(False, "HTTP 503 GCS not reachable"),
        nodes=Probe(False, "[Errno 111] Connection refused"),
        metrics=Probe(False, "[Errno 111] Connection refused"),
    )
    [head] = cluster_health(HEAD, [HEAD], unhealthy, raylets(set()), LIMITS)
    assert head.problems[0] == "GCS: HTTP 503 GCS not reachable"
    assert "dashboard API: [Errno 111] Connection refused" in head.problems


def test_nodes_ray_has_that_the_inventory_does_not_are_checked_too() -> None:
    states = {"10.0.0.10": "ALIVE", "10.0.0.21": "ALIVE"}
    verdicts = cluster_health(HEAD, [HEAD], probes(states), raylets({"10.0.0.21"}), LIMITS)
    assert as_result(verdicts)["unhealthy"] == ["(not in the inventory) 10.0.0.21"]


def test_redis_lines() -> None:
    assert redis_health("redis", "10.0.0.20:6379", Probe(True, "PONG", 0.0012)).line() == (
        "redis (10.0.0.20:6379): healthy: PING 1 ms"
    )
    assert not redis_health("redis", "r:1", Probe(False, "WRONGPASS invalid password")).healthy


def test_the_gcs_is_down_only_after_every_attempt_failed() -> None:
    answers = iter([Probe(False, "HTTP 503"), Probe(False, "HTTP 503"), Probe(True, "HTTP 200")])
    pauses: list[float] = []
    assert first_success(lambda: next(answers), 3, 1.0, pauses.append).ok
    assert pauses == [1.0, 1.0]

    calls: list[int] = []

    def down() -> Probe:
        calls.append(1)
        return Probe(False, f"HTTP 503 #{len(calls)}")

    result = first_success(down, 3, 1.0, lambda _: None)
    assert (result.ok, result.detail, len(calls)) == (False, "HTTP 503 #3", 3)


def test_a_gcs_that_answers_at_once_is_asked_once() -> None:
    calls: list[int] = []

    def up() -> Probe:
        calls.append(1)
        return Probe(True, "HTTP 200")

    assert first_success(up, 3, 1.0, lambda _: None).ok
    assert len(calls) == 1


def test_a_dead_node_of_a_split_host_is_not_hidden_by_its_alive_sibling() -> None:
    # gpu-1's two nodes share its address; their slot label tells them apart.
    result = [
        {"node_ip": "10.0.0.10", "state": "ALIVE"},
        {"node_ip": "10.0.0.12", "state": "ALIVE", "labels": {"rayfleet.io/slot": "0"}},
        {"node_ip": "10.0.0.12", "state": "DEAD", "labels": {"rayfleet.io/slot": "1"}},
    ]
    head_probes = HeadProbes(
        gcs=Probe(True, "HTTP 200", 0.001, "success"),
        nodes=Probe(True, "HTTP 200", 0.004, json.dumps({"data": {"result": {"result": result}}})),
        metrics=Probe(True, "HTTP 200", 0.002, METRICS),
    )
    nodes = [
        HEAD,
        ExpectedNode("gpu-1", "10.0.0.12", 52365),
        ExpectedNode("gpu-1/1", "10.0.0.12", 52465, slot=1),
    ]

    def raylet(address: str, port: int) -> Probe:
        if port == 52465:
            return Probe(False, "[Errno 111] Connection refused")
        return Probe(True, "HTTP 200", 0.001, "success")

    result_ = as_result(cluster_health(HEAD, nodes, head_probes, raylet, LIMITS))
    assert result_["unhealthy"] == ["gpu-1/1"]
    assert result_["lines"][2] == (
        "gpu-1/1 (10.0.0.12): UNHEALTHY: raylet: [Errno 111] Connection refused; "
        "Ray node state: DEAD"
    )
