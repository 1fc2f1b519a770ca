# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Health of a Ray cluster from what its head, nodes and Redis answer: probes and verdicts.

The verdicts are pure functions of the probes' results, so pytest checks them directly; the
HTTP probes use the standard library (the Redis probe is the module's, on redis_client).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.node_slots import SLOT_LABEL

GCS_HEALTH_PATH = "/api/gcs_healthz"
RAYLET_HEALTH_PATH = "/api/local_raylet_healthz"
NODES_PATH = "/api/v0/nodes?detail=false&limit=10000"
# Ray's gauge of how late each asio event loop runs its handlers, per loop.
EVENT_LOOP_LAG_METRIC = "ray_io_context_event_loop_lag_ms"
GCS_COMPONENT = 'Component="gcs_server"'
# Ray's dashboard gives the GCS 100 ms to answer its liveness check
# (dashboard/modules/reporter/utils.py): one late answer on a busy head is not an outage, so
# the GCS is reported down after this many misses in a row (a probe's failure threshold).
GCS_PROBE_ATTEMPTS = 3
GCS_PROBE_PAUSE_S = 1.0


@dataclass(frozen=True)
class Probe:
    """One request: whether it got the expected answer, what it said, and how long it took."""

    ok: bool
    detail: str
    seconds: float = 0.0
    body: str = ""


@dataclass(frozen=True)
class ExpectedNode:
    name: str
    address: str
    agent_port: int
    # The node's place on its host (plan's slot): nodes of one host share its address.
    slot: int = 0


@dataclass(frozen=True)
class NodeHealth:
    name: str
    address: str
    problems: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems

    def line(self) -> str:
        verdict = "healthy" if self.healthy else "UNHEALTHY"
        return f"{self.name} ({self.address}): {verdict}: " + "; ".join(
            [*self.problems, *self.notes]
        )


def http_get(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> Probe:
    """GET ``url`` with ``headers`` (the token's, from ray_auth.auth_headers)."""
    start = time.monotonic()
    try:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode("utf-8", "replace")
            return Probe(True, f"HTTP {response.status}", time.monotonic() - start, body)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace").strip()[:200]
        return Probe(False, f"HTTP {error.code} {detail}".strip(), time.monotonic() - start)
    # HTTPException: an answer cut short (IncompleteRead) or not HTTP at all.
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        return Probe(False, str(reason), time.monotonic() - start)


def first_success(
    probe: Callable[[], Probe],
    attempts: int,
    pause_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Probe:
    """The first of up to ``attempts`` probes that succeeds, else the last failure."""
    result = probe()
    for _ in range(attempts - 1):
        if result.ok:
            break
        sleep(pause_s)
        result = probe()
    return result


def gcs_event_loop_lag_ms(metrics: str) -> float | None:
    """The largest lag of the GCS's event loops in Prometheus text, or None if not exported."""
    lags = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(EVENT_LOOP_LAG_METRIC + "{") and GCS_COMPONENT in line
    ]
    return max(lags) if lags else None


def nodes_query_path(node_ip: str | None, state: str) -> str:
    """The state API's query for the nodes at ``node_ip`` (None: anywhere) in ``state``."""
    filters = (("node_ip", node_ip), ("state", state))
    query = [("detail", "false")] + [
        (field_, value)
        for key, wanted in filters
        if wanted is not None
        for field_, value in (
            ("filter_keys", key),
            ("filter_predicates", "="),
            ("filter_values", wanted),
        )
    ]
    return "/api/v0/nodes?" + urllib.parse.urlencode(query)


class NodeWaitError(Exception):
    """The state API listed no such node in time, or refused the token."""


# Answers that asking again will not change.
AUTH_REFUSALS = ("HTTP 401", "HTTP 403")
NODE_POLL_INTERVAL_S = 0.5


def wait_for_nodes(
    dashboard_url: str,
    node_ip: str,
    headers: Mapping[str, str],
    *,
    state: str = "ALIVE",
    slot: int | None = None,
    known: Collection[str] = (),
    wait_timeout: float = 0,
    timeout: float = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """The nodes at ``node_ip`` (in ``slot``) in ``state`` but those whose node id is
    ``known``, asking until one is listed or ``wait_timeout`` s have passed (0: one answer,
    which may list none); NodeWaitError else. An answer of another shape counts as none."""
    url = dashboard_url.rstrip("/") + nodes_query_path(node_ip, state)
    deadline = time.monotonic() + wait_timeout
    while True:
        probe = http_get(url, timeout, headers)
        try:
            listed = listed_nodes(probe.body) if probe.ok else []
        except (ValueError, LookupError, TypeError):
            probe = Probe(False, f"an answer of another shape: {probe.body[:200]!r}", probe.seconds)
            listed = []
        nodes = [
            node
            for node in listed
            if (slot is None or node_slot(node) == slot) and node.get("node_id") not in known
        ]
        if nodes or (probe.ok and not wait_timeout):
            return nodes
        if probe.detail.startswith(AUTH_REFUSALS):
            raise NodeWaitError(f"the dashboard refused the cluster's token: {probe.detail}")
        if time.monotonic() >= deadline:
            last = "no such node yet" if probe.ok else probe.detail
            where = "" if slot is None else f" in slot {slot}"
            raise NodeWaitError(
                f"no {state} node at {node_ip}{where} after {wait_timeout:g} s"
                f" (last answer: {last})"
            )
        sleep(NODE_POLL_INTERVAL_S)


def listed_nodes(nodes_body: str) -> list[dict[str, Any]]:
    """The node records of a state API answer."""
    return list(json.loads(nodes_body)["data"]["result"]["result"])


def node_slot(node: Mapping[str, Any]) -> int:
    """The slot of a state API node record: its rayfleet.io/slot label, 0 without one."""
    return int((node.get("labels") or {}).get(SLOT_LABEL, 0))


def node_states(nodes_body: str) -> dict[tuple[str, int], str]:
    """(Node IP, slot) to state (ALIVE or DEAD; ALIVE wins) from the state API's node list."""
    states: dict[tuple[str, int], str] = {}
    for node in listed_nodes(nodes_body):
        key = (node["node_ip"], node_slot(node))
        if states.get(key) != "ALIVE":
            states[key] = node["state"]
    return states


@dataclass(frozen=True)
class HeadProbes:
    gcs: Probe
    nodes: Probe
    metrics: Probe


def head_health(
    probes: HeadProbes,
    lag: float | None,
    max_dashboard_latency_ms: float,
    max_event_loop_lag_ms: float,
) -> tuple[str, ...]:
    """The cluster-wide problems the head answers for: GCS, dashboard API, event loop.

    ``lag``: the GCS's event-loop lag from the head's metrics, None when not exported.
    """
    problems: list[str] = []
    if not probes.gcs.ok or probes.gcs.body.strip() != "success":
        problems.append(f"GCS: {probes.gcs.detail} {probes.gcs.body.strip()[:200]}".strip())
    latency_ms = probes.nodes.seconds * 1000
    if not probes.nodes.ok:
        problems.append(f"dashboard API: {probes.nodes.detail}")
    elif latency_ms > max_dashboard_latency_ms:
        problems.append(
            f"dashboard API: {latency_ms:.0f} ms (more than {max_dashboard_latency_ms:.0f} ms)"
        )
    if lag is None:
        problems.append(f"GCS event loop lag: not exported ({probes.metrics.detail})")
    elif lag > max_event_loop_lag_ms:
        problems.append(
            f"GCS event loop lag: {lag:.0f} ms (more than {max_event_loop_lag_ms:.0f} ms)"
        )
    return tuple(problems)


def cluster_health(
    head: ExpectedNode,
    nodes: Sequence[ExpectedNode],
    head_probes: HeadProbes,
    probe_raylet: Callable[[str, int], Probe],
    limits: Mapping[str, float],
) -> list[NodeHealth]:
    """One verdict per node: the inventory's nodes, then nodes Ray has that it does not list."""
    lag = gcs_event_loop_lag_ms(head_probes.metrics.body) if head_probes.metrics.ok else None
    head_problems = head_health(
        head_probes,
        lag,
        limits["max_dashboard_latency_ms"],
        limits["max_event_loop_lag_ms"],
    )
    states = node_states(head_probes.nodes.body) if head_probes.nodes.ok else {}
    known = {(node.address, node.slot) for node in nodes}
    extra = [
        ExpectedNode(
            f"(not in the inventory) {ip}" + (f" slot {slot}" if slot else ""),
            ip,
            head.agent_port,
            slot,
        )
        for (ip, slot), state in sorted(states.items())
        if state == "ALIVE" and (ip, slot) not in known
    ]
    verdicts: list[NodeHealth] = []
    for node in [*nodes, *extra]:
        raylet = probe_raylet(node.address, node.agent_port)
        problems: list[str] = []
        if not raylet.ok or raylet.body.strip() != "success":
            problems.append(f"raylet: {raylet.detail} {raylet.body.strip()[:200]}".strip())
        state = states.get((node.address, node.slot), "unknown to the GCS")
        if head_probes.nodes.ok and state != "ALIVE":
            problems.append(f"Ray node state: {state}")
        notes = [f"raylet ok, {state}"] if not problems else []
        if node.name == head.name:
            problems += head_problems
            notes += [
                f"dashboard API {head_probes.nodes.seconds * 1000:.0f} ms",
                f"GCS event loop lag {lag:.0f} ms" if lag is not None else "",
            ]
        verdicts.append(
            NodeHealth(node.name, node.address, tuple(problems), tuple(n for n in notes if n))
        )
    return verdicts


def redis_health(name: str, address: str, probe: Probe) -> NodeHealth:
    if probe.ok:
        return NodeHealth(name, address, (), (f"PING {probe.seconds * 1000:.0f} ms",))
    return NodeHealth(name, address, (f"Redis: {probe.detail}",))


def as_result(verdicts: Sequence[NodeHealth]) -> dict[str, Any]:
    unhealthy = [verdict for verdict in verdicts if not verdict.healthy]
    return {
        "healthy": not unhealthy,
        "lines": [verdict.line() for verdict in verdicts],
        "unhealthy": [verdict.name for verdict in unhealthy],
    }
