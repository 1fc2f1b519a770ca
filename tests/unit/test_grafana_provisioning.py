"""What Grafana would refuse or skip in a provisioning is found before it is written."""

from __future__ import annotations

import copy
from typing import Any

from ansible_collections.rayfleet.cluster.plugins.module_utils.grafana_provisioning import (
    dashboard_queries,
    provisioning_problems,
)

DATASOURCES = {
    "apiVersion": 1,
    "datasources": [
        {
            "name": "Prometheus",
            "uid": "rayfleet-prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": "http://10.0.0.10:9090",
            "isDefault": True,
        }
    ],
}
PROVIDERS = {
    "apiVersion": 1,
    "providers": [{"name": "rayfleet", "type": "file", "options": {"path": "/dash"}}],
}
# Shaped like Ray's own dashboards: a datasource variable, panels inside a row.
RAY_DASHBOARD: dict[str, Any] = {
    "uid": "rayDefaultDashboard",
    "title": "Default Dashboard",
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
    "panels": [
        {
            "id": 1,
            "type": "row",
            "gridPos": {},
            "panels": [
                {
                    "id": 2,
                    "type": "timeseries",
                    "gridPos": {},
                    "datasource": "${datasource}",
                    "targets": [{"refId": "A", "expr": "sum(ray_tasks)"}],
                }
            ],
        }
    ],
}
FLEET: dict[str, Any] = {
    "uid": "rayfleet-fleet-overview",
    "title": "rayfleet fleet overview",
    "panels": [
        {
            "id": 1,
            "type": "stat",
            "gridPos": {},
            "datasource": {"type": "prometheus", "uid": "rayfleet-prometheus"},
            "targets": [{"refId": "A", "expr": 'sum(up{job="ray"})'}],
        }
    ],
}


def provisioning(**dashboards: Any) -> dict[str, Any]:
    return {
        "datasources": [copy.deepcopy(DATASOURCES)],
        "providers": [copy.deepcopy(PROVIDERS)],
        "dashboard_paths": ["/dash"],
        "dashboards": dashboards or {"ray.json": RAY_DASHBOARD, "fleet.json": FLEET},
    }


def test_rays_dashboards_and_the_fleet_overview_load() -> None:
    assert provisioning_problems(provisioning()) == []


def test_a_datasource_no_one_provisioned_is_found() -> None:
    fleet = copy.deepcopy(FLEET)
    fleet["panels"][0]["targets"][0]["datasource"] = {"uid": "prom-2"}
    assert provisioning_problems(provisioning(**{"fleet.json": fleet})) == [
        "fleet.json: panel 1 (''): datasource 'prom-2' is not provisioned"
    ]


def test_a_variable_that_is_no_datasource_variable_is_found() -> None:
    ray = copy.deepcopy(RAY_DASHBOARD)
    ray["templating"]["list"] = []
    [problem] = provisioning_problems(provisioning(**{"ray.json": ray}))
    assert "panel 2" in problem and "'${datasource}' is not provisioned" in problem


def test_broken_datasources_and_providers_are_found() -> None:
    broken = provisioning()
    broken["datasources"][0]["datasources"].append({"name": "Prometheus", "type": "prometheus"})
    broken["datasources"][0]["datasources"][1]["isDefault"] = True
    broken["providers"][0]["providers"][0]["options"]["path"] = "/elsewhere"
    problems = provisioning_problems(broken)
    assert "datasources[1]: url is missing" in problems
    assert "datasources[1]: name 'Prometheus' is used twice" in problems
    assert "datasources: 2 are marked isDefault; Grafana allows one" in problems
    assert "providers[0]: options.path '/elsewhere' is none of ['/dash']" in problems


def test_duplicate_and_overlong_uids_are_found() -> None:
    long = {**copy.deepcopy(FLEET), "uid": "x" * 41}
    problems = provisioning_problems(
        provisioning(**{"a.json": FLEET, "b.json": FLEET, "c.json": long})
    )
    assert "b.json: uid 'rayfleet-fleet-overview' is also the uid of a.json" in problems
    assert "c.json: uid must be a string of 1 to 40 characters" in problems


def test_queries_of_nested_panels_are_listed() -> None:
    assert dashboard_queries(RAY_DASHBOARD) == ["sum(ray_tasks)"]
