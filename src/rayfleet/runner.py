"""The Python API: run rayfleet's playbooks through ansible-runner."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner

from rayfleet.paths import collection_root


@dataclass(frozen=True)
class PlaybookResult:
    """What a playbook run did: its status, return code and per-host counts."""

    status: str
    rc: int
    stats: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def changed(self) -> int:
        return sum(self.stats.get("changed", {}).values())


def run_playbook(
    playbook: str,
    inventory: str | Path | Sequence[str | Path],
    *,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    check: bool = False,
    diff: bool = False,
    quiet: bool = False,
    ansible_config: Path | None = None,
    event_handler: Callable[[dict[str, Any]], bool] | None = None,
    timeout_s: int | None = None,
) -> PlaybookResult:
    """Run ``playbooks/<playbook>`` of the collection against ``inventory`` (one or more sources).

    ``ansible_config`` replaces the checkout's ansible.cfg; ``event_handler`` sees each
    of ansible-runner's events as it happens; a run past ``timeout_s`` is cancelled, and
    its status is ``timeout``.
    """
    root = collection_root()
    cmdline = " ".join(flag for flag, wanted in (("--check", check), ("--diff", diff)) if wanted)
    sources = [inventory] if isinstance(inventory, (str, Path)) else list(inventory)
    with tempfile.TemporaryDirectory(prefix="rayfleet-runner-") as private_data_dir:
        run = ansible_runner.run(
            private_data_dir=private_data_dir,
            project_dir=str(root),
            playbook=str(root / "playbooks" / playbook),
            inventory=[str(Path(source).resolve()) for source in sources],
            extravars=extravars or {},
            limit=limit,
            cmdline=cmdline or None,
            envvars=_environment(root, ansible_config),
            quiet=quiet,
            event_handler=event_handler,
            timeout=timeout_s,
        )
        return PlaybookResult(status=run.status, rc=run.rc, stats=run.stats or {})


def run_module(
    module: str, args: str, inventory: str | Path, hosts: str
) -> dict[str, dict[str, Any]]:
    """Run one module ad hoc on ``hosts``; each host's result. Raises if any host failed."""
    root = collection_root()
    with tempfile.TemporaryDirectory(prefix="rayfleet-runner-") as private_data_dir:
        run = ansible_runner.run(
            private_data_dir=private_data_dir,
            inventory=str(Path(inventory).resolve()),
            host_pattern=hosts,
            module=module,
            module_args=args,
            envvars=_environment(root),
            quiet=True,
        )
        results: dict[str, dict[str, Any]] = {}
        for event in run.events:
            data = event.get("event_data", {})
            if event.get("event", "").startswith("runner_on_") and "res" in data:
                results[data["host"]] = data["res"]
        if run.rc != 0:
            raise RuntimeError(f"{module} {args} on {hosts}: {run.status}: {results}")
        return results


def _environment(root: Path, ansible_config: Path | None = None) -> dict[str, str]:
    return {
        "ANSIBLE_CONFIG": str(ansible_config or root / "ansible.cfg"),
        # The venv's ansible-playbook, also when the venv is not activated.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def deploy(inventory: str | Path, **options: Any) -> PlaybookResult:
    """Validate the inventory and deploy every cluster in it (playbooks/site.yml)."""
    return run_playbook("site.yml", inventory, **options)


HEALTH_MODULE = "rayfleet.cluster.ray_health"


@dataclass(frozen=True)
class HealthReport:
    """One line per node of every cluster (and Redis), and the playbook's exit code."""

    lines: list[str]
    rc: int

    @property
    def healthy(self) -> bool:
        return self.rc == 0


def health(inventory: str | Path | Sequence[str | Path], **options: Any) -> HealthReport:
    """Check every cluster's health (playbooks/health.yml); fails naming unhealthy nodes."""
    lines: list[str] = []

    def collect(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        result = data.get("res", {})
        if event.get("event") == "runner_on_ok" and data.get("task_action") == HEALTH_MODULE:
            lines.extend(result.get("lines", []))
        elif event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            lines.append(f"{data.get('host')}: {result.get('msg', 'failed')}")
        return True

    run = run_playbook("health.yml", inventory, quiet=True, event_handler=collect, **options)
    return HealthReport(lines=lines, rc=run.rc)
