"""The cluster plan: its records, its round trip through facts, its version and its schema."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from plans import lazy

from ansible_collections.rayfleet.cluster.plugins.module_utils.names import NODE_TOKEN_FILE
from ansible_collections.rayfleet.cluster.plugins.module_utils.plan import (
    PLAN_VERSION,
    ClusterPlan,
    NodePlan,
    Plan,
    schema,
)

CLUSTER = ClusterPlan(
    head="head",
    gcs_address="10.0.0.10:6379",
    dashboard_address="10.0.0.10:8265",
    gcs_storage="redis",
    namespace="prod",
    autoscaling=True,
    auth_mode="token",
    tls=False,
    monitoring=True,
    temp_dir="/var/lib/ray/tmp",
    head_user="ray",
    redis_address="10.0.0.30:6379",
    redis_user="ray-prod",
)
PLAN = Plan(
    clusters={"prod": CLUSTER},
    nodes={
        "head": NodePlan("head", "prod", "head", "head", "10.0.0.10", 8090, 52365, vars={}),
        "cpu-1": NodePlan("cpu-1", "prod", "worker", "ray_workers_cpu", "10.0.0.11", 8090, 52365),
        "pool-1": NodePlan(
            "pool-1",
            "prod",
            "worker",
            "ray_workers_small",
            "10.0.0.21",
            8090,
            52365,
            pool=True,
            spare=True,
            vars={"ray_num_cpus": 2},
        ),
    },
)


def test_the_plan_survives_the_trip_through_facts() -> None:
    # Facts are JSON: what the validate step sets is what every reader gets back.
    facts = json.loads(json.dumps(PLAN.to_dict()))
    assert Plan.from_dict(facts) == PLAN
    assert facts["version"] == PLAN_VERSION


def test_a_plan_of_another_version_is_refused_with_the_fix() -> None:
    facts = {**PLAN.to_dict(), "version": PLAN_VERSION + 1}
    with pytest.raises(ValueError, match="run the validate play of the same rayfleet"):
        Plan.from_dict(facts)
    with pytest.raises(ValueError, match="version None"):
        Plan.from_dict({"clusters": {}, "nodes": {}})
    # A field this code does not know is another version's too.
    facts = PLAN.to_dict()
    facts["nodes"]["cpu-1"]["zone"] = "a"
    with pytest.raises(ValueError, match="run the validate play of the same rayfleet"):
        Plan.from_dict(facts)


def test_hosts_list_the_nodes_they_run() -> None:
    two_on_one = Plan(
        clusters=PLAN.clusters,
        nodes={
            **PLAN.nodes,
            "cpu-1-b": NodePlan("cpu-1", "prod", "worker", "g", "10.0.0.11", 1, 2),
        },
    )
    assert two_on_one.hosts() == {
        "cpu-1": ["cpu-1", "cpu-1-b"],
        "head": ["head"],
        "pool-1": ["pool-1"],
    }
    assert PLAN.to_dict()["hosts"]["cpu-1"] == ["cpu-1"]


def test_the_roles_view_gives_each_node_its_clusters_settings() -> None:
    view = PLAN.node_view()
    assert view["cpu-1"]["gcs_address"] == "10.0.0.10:6379"
    assert (view["cpu-1"]["cluster"], view["cpu-1"]["head"]) == ("prod", "head")
    assert (view["pool-1"]["group"], view["pool-1"]["spare"]) == ("ray_workers_small", True)
    # Settings for the autoscaler's inventory only where the head hands them on.
    assert "vars" not in view["cpu-1"]
    assert view["pool-1"]["vars"] == {"ray_num_cpus": 2}
    assert view["head"]["vars"] == {}
    # The ray role installs the token there, and validation asks the head's dashboard with it.
    assert {node["auth_token_file"] for node in view.values()} == {NODE_TOKEN_FILE}


def documented_plan(repo_root: Path) -> dict[str, Any]:
    module = repo_root / "plugins" / "modules" / "validate_inventory.py"
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "RETURN":
            plan: dict[str, Any] = yaml.safe_load(str(ast.literal_eval(node.value)))[
                "ansible_facts"
            ]["contains"]["rayfleet_plan"]
            return plan
    raise AssertionError("validate_inventory has no RETURN")


DOC_TYPES = {"str": "str", "bool": "bool", "int": "int", "Mapping[str, Any] | None": "dict"}


def test_the_modules_return_documents_every_field_with_its_type(repo_root: Path) -> None:
    documented = documented_plan(repo_root)["contains"]
    assert set(documented) == {"version", "clusters", "nodes", "hosts"}
    for record, key in (("ClusterPlan", "clusters"), ("NodePlan", "nodes")):
        fields = schema()[record]
        docs = documented[key]["contains"]
        assert set(docs) == set(fields), record
        for name, annotation in fields.items():
            # A description with a comma in a flow mapping would split into stray keys.
            assert set(docs[name]) == {"description", "type"}, f"{record}.{name}"
            assert isinstance(docs[name]["description"], str), f"{record}.{name}"
            assert docs[name]["type"] == DOC_TYPES[annotation], f"{record}.{name}: {annotation}"


def test_facts_are_plain_data_whatever_containers_the_settings_came_in() -> None:
    node = replace(PLAN.nodes["pool-1"], vars=lazy({"ray_resources": {"small": 1}}))
    plan = replace(PLAN, nodes={**PLAN.nodes, "pool-1": node})
    for facts in (plan.to_dict()["nodes"]["pool-1"], plan.node_view()["pool-1"]):
        assert facts["vars"] == {"ray_resources": {"small": 1}}
        assert type(facts["vars"]["ray_resources"]) is dict
