"""A small mutation run: named breakages of the code that matters most, each of which the
unit tests that guard it must catch.

Each mutation is applied to a fresh copy of the checkout (tracked and untracked files, as
they are now), and only the tests named for it run there, with this venv's Python; the
run fails when any mutation survives (its tests still pass). Usage:

    .venv/bin/python tests/mutate.py            # every mutation
    .venv/bin/python tests/mutate.py NAME ...   # some of them
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    mutant: str
    tests: tuple[str, ...]


NODE_PROVIDER_TESTS = ("tests/unit/test_node_provider.py", "tests/unit/test_pool_state.py")
VALIDATION_TESTS = ("tests/unit/test_inventory_checks.py",)
ALERT_TESTS = ("tests/unit/test_alert_rules.py",)
ALERTS = "roles/prometheus/templates/rayfleet-alerts.yml.j2"
GPU_TESTS = ("tests/unit/test_gpu_facts.py", "tests/unit/test_gpu_nodes.py")

MUTATIONS = (
    # The provider's state transitions.
    Mutation(
        "leaving hosts stay members",
        "src/rayfleet/autoscaler/state.py",
        "MEMBER_STATUSES = frozenset({Status.LAUNCHING, Status.RUNNING})",
        "MEMBER_STATUSES = frozenset({Status.LAUNCHING, Status.RUNNING, Status.TERMINATING})",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "Ray still sees leaving hosts",
        "src/rayfleet/autoscaler/provider.py",
        "pool_nodes = [node for node, host in members(state).items() if host in self._pool]",
        "pool_nodes = [r.node_id for host, r in state.items() if r.node_id and host in self._pool]",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "the provider never asks to terminate",
        "src/rayfleet/autoscaler/provider.py",
        "        self._ask(Terminate(node_id))\n",
        "        pass\n",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "terminate changes nothing",
        "src/rayfleet/autoscaler/provisioner.py",
        "    def terminate(self, node_id: str) -> None:\n",
        "    def terminate(self, node_id: str) -> None:\n        return\n",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "a failed host is freed, not quarantined",
        "src/rayfleet/autoscaler/state.py",
        "        status=Status.QUARANTINED,\n",
        "        status=Status.FREE,\n",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "quarantine never ends",
        "src/rayfleet/autoscaler/state.py",
        "record.quarantined_until <= now",
        "record.quarantined_until < 0",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "a join's success is not recorded",
        "src/rayfleet/autoscaler/provisioner.py",
        "return mark_running(state, host, now), (Status.RUNNING, [])",
        "return state, (Status.RUNNING, [])",
        NODE_PROVIDER_TESTS,
    ),
    # Validation.
    Mutation(
        "numbers below their least pass",
        "plugins/module_utils/inventory_checks.py",
        "        if (value := settings[name]) is not None and value < least\n",
        "        if (value := settings[name]) is not None and value < least - 1e9\n",
        VALIDATION_TESTS,
    ),
    Mutation(
        "a label Ray refuses passes",
        "plugins/module_utils/inventory_checks.py",
        '    if len(name) > 63 or not LABEL_NAME.fullmatch(name):\n        return f"label',
        '    if len(name) > 63:\n        return f"label',
        VALIDATION_TESTS,
    ),
    Mutation(
        "listeners may share a port with Ray's",
        "plugins/module_utils/inventory_checks.py",
        "    taken = {port: name for name, port in ray_ports.items()}\n",
        "    taken: dict[int, str] = {}\n",
        VALIDATION_TESTS,
    ),
    Mutation(
        "two clusters may share a namespace",
        "plugins/module_utils/inventory_checks.py",
        "        if other != name:\n",
        "        if False:\n",
        VALIDATION_TESTS,
    ),
    Mutation(
        "the dashboard may open on every interface",
        "plugins/module_utils/inventory_checks.py",
        '    if settings["ray_dashboard_all_interfaces"]:\n        return []\n',
        "    return []\n",
        VALIDATION_TESTS,
    ),
    Mutation(
        "turning auth off goes unsaid",
        "plugins/module_utils/inventory_checks.py",
        '["ray_auth_mode"] != "disabled"',
        '["ray_auth_mode"] != "off"',
        VALIDATION_TESTS,
    ),
    # GPU hosts.
    Mutation(
        "a lost GPU counts as usable",
        "plugins/module_utils/gpu_nodes.py",
        '    gpus = [gpu for gpu in facts.get("gpus", []) if not gpu.get("lost")]\n',
        '    gpus = list(facts.get("gpus", []))\n',
        GPU_TESTS,
    ),
    Mutation(
        "any driver is new enough",
        "plugins/module_utils/gpu_nodes.py",
        'version_tuple(facts["driver_version"]) >= version_tuple(minimum)',
        'version_tuple(facts["driver_version"]) >= (0,)',
        GPU_TESTS,
    ),
    Mutation(
        "a GPU in MIG mode is used whole",
        "plugins/module_utils/gpu_nodes.py",
        '        return [gpu for gpu in gpus if not gpu["mig_enabled"]]\n',
        "        return gpus\n",
        GPU_TESTS,
    ),
    # Failure paths (issue 15).
    Mutation(
        "a host whose join failed is quarantined with Ray still running",
        "src/rayfleet/autoscaler/state.py",
        "status=Status.TERMINATING,\n            last_error=error,\n            failed_join",
        "status=Status.QUARANTINED,\n            last_error=error,\n            failed_join",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "a host whose leave failed is freed",
        "src/rayfleet/autoscaler/state.py",
        "            retry_at=now + policy.duration(failures),\n",
        "            retry_at=now + policy.duration(failures),\n            status=Status.FREE,\n",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "a corrupt pool state starts empty",
        "src/rayfleet/autoscaler/state.py",
        "state = self._rebuild() if self._rebuild is not None else {}",
        "state = {}",
        NODE_PROVIDER_TESTS,
    ),
    Mutation(
        "a stopped worker does not drain",
        "plugins/module_utils/ray_unit.py",
        '"0" if head else str(settings["ray_drain_timeout_s"])',
        '"0"',
        ("tests/unit/test_ray_unit.py",),
    ),
    # A GPU host split into several Ray nodes.
    Mutation(
        "a split host's nodes share their ports",
        "plugins/module_utils/node_slots.py",
        "**{name: int(settings[name]) + slot * step for name in NODE_PORTS},",
        "**{name: int(settings[name]) for name in NODE_PORTS},",
        ("tests/unit/test_ray_unit.py", *VALIDATION_TESTS),
    ),
    Mutation(
        "a split host's nodes each claim all its CPUs",
        "plugins/module_utils/ray_unit.py",
        '"ray_num_cpus": max(vcpus // count, 1),',
        '"ray_num_cpus": vcpus,',
        ("tests/unit/test_ray_unit.py",),
    ),
    Mutation(
        "a dead node hides behind its host's live one",
        "plugins/module_utils/ray_health.py",
        'key = (node["node_ip"], node_slot(node))',
        'key = (node["node_ip"], 0)',
        ("tests/unit/test_ray_health.py",),
    ),
    Mutation(
        "a host split into fewer nodes keeps the others",
        "plugins/module_utils/ray_unit.py",
        "for slot in sorted(slots - kept)]",
        "for slot in sorted(slots & kept)]",
        ("tests/unit/test_ray_unit.py",),
    ),
    Mutation(
        "no alert for uncorrectable ECC errors",
        ALERTS,
        'rayfleet_gpu_ecc_errors_total{job="node", type="uncorrected"} > 0',
        'rayfleet_gpu_ecc_errors_total{job="node", type="uncorrected"} > 1000',
        ALERT_TESTS,
    ),
    # rayfleet's own Redis clients.
    Mutation(
        "rayfleet's Redis clients never use TLS",
        "plugins/module_utils/redis_client.py",
        "ssl=bool(ca_file),",
        "ssl=False,",
        ("tests/unit/test_redis_client.py",),
    ),
    # The alert rules.
    Mutation(
        "no alert for a head without GCS metrics",
        ALERTS,
        '\n          or (up{job="ray", ray_node_type="head"} == 1\n'
        '              unless on (ray_io_cluster) ray_gcs_actors_count{job="ray"})',
        "",
        ALERT_TESTS,
    ),
    Mutation(
        "no alert for a Redis whose exporter is down",
        ALERTS,
        'redis_up{job="redis"} == 0 or up{job="redis"} == 0',
        'redis_up{job="redis"} == 0',
        ALERT_TESTS,
    ),
    Mutation(
        "no alert for a host down",
        ALERTS,
        'expr: up{job="node"} == 0',
        'expr: up{job="node"} == 2',
        ALERT_TESTS,
    ),
)


def copy_checkout(destination: Path) -> None:
    """The files git tracks, and those it does not ignore, as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # Ansible finds the copy as the rayfleet.cluster collection, as `make venv` sets it up.
    link = destination / ".ansible" / "collections" / "ansible_collections" / "rayfleet"
    link.mkdir(parents=True)
    (link / "cluster").symlink_to("../../../..")


def apply(mutation: Mutation, checkout: Path) -> None:
    path = checkout / mutation.path
    text = path.read_text()
    found = text.count(mutation.original)
    if found != 1:
        raise SystemExit(f"{mutation.name}: {mutation.path} holds the original {found} times")
    path.write_text(text.replace(mutation.original, mutation.mutant))


def run_tests(mutation: Mutation | None, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """pytest's exit status, output and time on a copy of the checkout carrying the mutation."""
    with tempfile.TemporaryDirectory(prefix="rayfleet-mutant-") as directory:
        checkout = Path(directory)
        copy_checkout(checkout)
        if mutation is not None:
            apply(mutation, checkout)
        # The copy's package first: the venv's editable install points at this checkout.
        env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
        env.pop("PYTEST_ADDOPTS", None)
        # Both packages the tests import come from the copy (conftest.py puts its collection
        # first on the path), or a surviving mutant would prove nothing.
        imported = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.path.insert(0, '.ansible/collections'); import rayfleet;"
                " from ansible_collections.rayfleet.cluster.plugins.module_utils import firewall;"
                " print(rayfleet.__file__); print(firewall.__file__)",
            ],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        strangers = [path for path in imported if not path.startswith(str(checkout))]
        if strangers:
            raise SystemExit(f"the copy imports {strangers}, not its own files")
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode, result.stdout, time.monotonic() - start


def caught(mutation: Mutation) -> tuple[bool, float]:
    """Whether the mutation's tests fail on a copy that carries it, and how long they took."""
    status, output, elapsed = run_tests(mutation, mutation.tests)
    # 1: tests failed. Anything else (2: interrupted, 4: usage...) says nothing of the mutant.
    if status not in (0, 1):
        raise SystemExit(f"{mutation.name}: pytest exited {status}\n{output}")
    return status == 1, elapsed


def main(names: list[str]) -> int:
    unknown = set(names) - {mutation.name for mutation in MUTATIONS}
    if unknown:
        raise SystemExit(f"no such mutation: {', '.join(sorted(unknown))}")
    chosen = [mutation for mutation in MUTATIONS if not names or mutation.name in names]
    # Without a mutation the same tests pass, so a failure below is the mutant's doing.
    tests = tuple(sorted({test for mutation in chosen for test in mutation.tests}))
    status, output, elapsed = run_tests(None, tests)
    if status != 0:
        raise SystemExit(f"the unmutated copy fails its tests (exit {status}):\n{output}")
    print(f"control  {elapsed:5.1f} s  the unmutated copy passes {len(tests)} test files")
    survivors = []
    # Each mutant has its own copy: they run side by side, one per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        outcomes = list(pool.map(caught, chosen))
    for mutation, (killed, elapsed) in zip(chosen, outcomes, strict=True):
        print(f"{'caught ' if killed else 'SURVIVED'} {elapsed:5.1f} s  {mutation.name}")
        if not killed:
            survivors.append(mutation.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutations caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
