# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""Checks of Grafana provisioning (datasources, dashboard providers, dashboards) as data.

Grafana refuses or silently skips what breaks these rules when it starts; checking them
here tells the operator at deploy time, also on hosts where Grafana is not installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# Grafana's limit on dashboard uids.
MAX_UID_LENGTH = 40
DATASOURCE_ACCESS = ("proxy", "direct")
# A dashboard variable reference: $name or ${name} (optionally ${name:format}).
_VARIABLE = re.compile(r"^\$\{?([A-Za-z0-9_]+)(:[A-Za-z]+)?\}?$")


def datasource_problems(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    names: set[str] = set()
    defaults = 0
    for document in documents:
        if document.get("apiVersion") != 1:
            problems.append("datasources: apiVersion must be 1")
        for index, source in enumerate(document.get("datasources") or []):
            where = f"datasources[{index}]"
            for key in ("name", "type", "url"):
                if not source.get(key):
                    problems.append(f"{where}: {key} is missing")
            if source.get("access", "proxy") not in DATASOURCE_ACCESS:
                problems.append(f"{where}: access must be one of {', '.join(DATASOURCE_ACCESS)}")
            if source.get("name") in names:
                problems.append(f"{where}: name {source.get('name')!r} is used twice")
            names.add(source.get("name", ""))
            defaults += bool(source.get("isDefault"))
    if defaults > 1:
        problems.append(f"datasources: {defaults} are marked isDefault; Grafana allows one")
    return problems


def provider_problems(documents: Sequence[Mapping[str, Any]], paths: Sequence[str]) -> list[str]:
    """``paths``: the directories the dashboards are written to."""
    problems: list[str] = []
    for document in documents:
        if document.get("apiVersion") != 1:
            problems.append("dashboard providers: apiVersion must be 1")
        for index, provider in enumerate(document.get("providers") or []):
            where = f"providers[{index}]"
            if not provider.get("name"):
                problems.append(f"{where}: name is missing")
            if provider.get("type", "file") != "file":
                problems.append(f"{where}: type must be file")
            path = (provider.get("options") or {}).get("path")
            if path not in paths:
                problems.append(f"{where}: options.path {path!r} is none of {list(paths)}")
    return problems


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def _datasource_key(reference: Any) -> str | None:
    """The uid or name a panel's or query's datasource reference names."""
    if isinstance(reference, Mapping):
        return reference.get("uid")
    return reference if isinstance(reference, str) else None


def dashboard_problems(
    name: str, dashboard: Mapping[str, Any], datasources: Mapping[str, str]
) -> list[str]:
    """``datasources``: uid and name of each provisioned datasource, to its type."""
    problems: list[str] = []
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not 0 < len(uid) <= MAX_UID_LENGTH:
        problems.append(f"{name}: uid must be a string of 1 to {MAX_UID_LENGTH} characters")
    if not dashboard.get("title"):
        problems.append(f"{name}: title is missing")
    variables = {
        variable.get("name"): variable
        for variable in (dashboard.get("templating") or {}).get("list") or []
    }
    for panel in _panels(dashboard.get("panels") or []):
        where = f"{name}: panel {panel.get('id')} ({panel.get('title', '')!r})"
        if "type" not in panel or "gridPos" not in panel:
            problems.append(f"{where}: type or gridPos is missing")
        for query in [panel, *(panel.get("targets") or [])]:
            key = _datasource_key(query.get("datasource"))
            if key is None or key in datasources:
                continue
            variable = _VARIABLE.match(key)
            if variable and (variables.get(variable.group(1)) or {}).get("type") == "datasource":
                continue
            if variable and variable.group(1) in variables:
                continue
            problems.append(f"{where}: datasource {key!r} is not provisioned")
        if panel.get("type") != "row" and "targets" in panel:
            for target in panel["targets"]:
                if "expr" in target and not str(target["expr"]).strip():
                    problems.append(f"{where}: query {target.get('refId')} has no expression")
    return problems


def provisioning_problems(provisioning: Mapping[str, Any]) -> list[str]:
    """Problems of a whole provisioning: ``datasources`` and ``providers`` (lists of parsed
    YAML documents), ``dashboard_paths`` and ``dashboards`` (file name to parsed JSON)."""
    documents = provisioning["datasources"]
    problems = datasource_problems(documents)
    problems += provider_problems(provisioning["providers"], provisioning["dashboard_paths"])
    datasources: dict[str, str] = {}
    for document in documents:
        for source in document.get("datasources") or []:
            for key in (source.get("uid"), source.get("name")):
                if key:
                    datasources[key] = source.get("type", "")
    uids: dict[str, str] = {}
    for name, dashboard in sorted(provisioning["dashboards"].items()):
        problems += dashboard_problems(name, dashboard, datasources)
        other = uids.setdefault(str(dashboard.get("uid")), name)
        if other != name:
            problems.append(f"{name}: uid {dashboard.get('uid')!r} is also the uid of {other}")
    return problems


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[str]:
    """The PromQL expressions of a dashboard's panels."""
    return [
        str(target["expr"])
        for panel in _panels(dashboard.get("panels") or [])
        for target in panel.get("targets") or []
        if target.get("expr")
    ]
