"""rayfleet's GPU path on a machine with real NVIDIA GPUs and no network.

Runs, against the machine's driver:
- the rayfleet.cluster.gpu_facts module, through ansible-playbook where ansible-core is
  installed (wheels may be given with --wheels: they go into a venv of their own);
- Ray's own GPU detection (NvidiaGPUAcceleratorManager): from an installed Ray, else from the
  pinned Ray's source files given with --ray-sources (its accelerator manager and vendored
  pynvml; only the package __init__ files and ray_constants.env_bool are stand-ins);
- rayfleet-gpu-metrics: the time and memory of one reading of every GPU, and the file the
  daemon writes for node_exporter.

It prints what each saw, checks that they agree, and writes it all as JSON to --output.
    python3 tests/gpu/real_gpu.py --output /tmp/gpu.json [--wheels DIR] [--ray-sources DIR]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pynvml

REPO = Path(__file__).resolve().parents[2]
READINGS = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--wheels", type=Path, help="wheels of ansible-core and its requirements")
    parser.add_argument("--ray-sources", type=Path, help="the pinned Ray's accelerator sources")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rayfleet-gpu-") as scratch:
        work = Path(scratch)
        report: dict[str, Any] = {
            "nvidia_smi": run(
                [
                    "nvidia-smi",
                    "--query-gpu=index,name,uuid,driver_version,pci.bus_id",
                    "--format=csv,noheader",
                ]
            ),
            "facts": facts_through_ansible(work, args.wheels),
            "ray": ray_detection(work, args.ray_sources),
            "exporter": exporter_cost(work),
        }
    report["agree"] = agreement(report)
    args.output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if all(report["agree"].values()) else 1


def run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return f"{argv[0]}: not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return f"{done.stdout}{done.stderr}".strip()


def facts_through_ansible(work: Path, wheels: Path | None) -> dict[str, Any]:
    """The gpu_facts module as a play runs it, with this Python (which has nvidia-ml-py)."""
    command = [shutil.which("ansible-playbook") or ""]
    environment = {**os.environ}
    if not command[0] and wheels is not None:
        # Beside this Python's packages (its nvidia-ml-py), not in a venv: ensurepip may lack.
        site = work / "ansible-site"
        print(
            run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-index",
                    f"--find-links={wheels}",
                    f"--target={site}",
                    "ansible-core",
                ]
            )
        )
        command = [
            sys.executable,
            "-c",
            "import sys; from ansible.cli.playbook import main; sys.exit(main())",
        ]
        environment["PYTHONPATH"] = str(site)
    if not command[0]:
        return {"ran": False, "why": "ansible-core is not installed and no --wheels were given"}
    collections = work / "collections" / "ansible_collections" / "rayfleet"
    collections.mkdir(parents=True)
    (collections / "cluster").symlink_to(REPO)
    playbook = work / "facts.yml"
    saved = work / "facts.json"
    tasks = [
        {
            "name": "Read the GPUs",
            "rayfleet.cluster.gpu_facts": {},
            "register": "gpus",
            "ignore_errors": True,
        },
        {
            "name": "Save what the module returned",
            "ansible.builtin.copy": {"content": "{{ gpus | to_json }}", "dest": str(saved)},
        },
    ]
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    environment |= {
        "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }
    started = time.monotonic()
    done = subprocess.run(
        [
            *command,
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    seconds = time.monotonic() - started
    if not saved.exists():
        return {"ran": True, "rc": done.returncode, "output": (done.stdout + done.stderr)[-3000:]}
    result = json.loads(saved.read_text())
    return {
        "ran": True,
        "rc": done.returncode,
        "seconds": round(seconds, 2),
        "failed": bool(result.get("failed")),
        "msg": result.get("msg", ""),
        "rayfleet_gpus": result.get("ansible_facts", {}).get("rayfleet_gpus"),
    }


def ray_detection(work: Path, sources: Path | None) -> dict[str, Any]:
    """What Ray's own NVIDIA accelerator manager counts and names on this machine."""
    origin = "installed Ray"
    try:
        module = importlib.import_module("ray._private.accelerators.nvidia_gpu")
    except ImportError:
        if sources is None:
            return {"ran": False, "why": "Ray is not installed and no --ray-sources were given"}
        module = _ray_from_sources(work, sources)
        origin = f"the pinned Ray's source files ({sources})"
    manager = module.NvidiaGPUAcceleratorManager
    return {
        "ran": True,
        "from": origin,
        "num_gpus": manager.get_current_node_num_accelerators(),
        "accelerator_type": manager.get_current_node_accelerator_type(),
    }


def _ray_from_sources(work: Path, sources: Path) -> ModuleType:
    tree = work / "ray-sources"
    shutil.copytree(sources, tree)
    for package in ("ray", "ray/_private", "ray/_private/accelerators"):
        (tree / package / "__init__.py").touch()
    # The one helper nvidia_gpu.py imports from Ray's (large, compiled) core.
    (tree / "ray/_private/ray_constants.py").write_text(
        "import os\n\ndef env_bool(key, default):\n"
        "    return os.environ.get(key, str(default)).lower() in ('true', '1')\n"
    )
    sys.path.insert(0, str(tree))
    return importlib.import_module("ray._private.accelerators.nvidia_gpu")


def exporter_cost(work: Path) -> dict[str, Any]:
    """One reading of every GPU by rayfleet-gpu-metrics: its time, and the daemon's memory."""
    spec = importlib.util.spec_from_file_location(
        "rayfleet_gpu_metrics", REPO / "roles/node_exporter/files/rayfleet_gpu_metrics.py"
    )
    assert spec is not None and spec.loader is not None
    metrics = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = metrics
    spec.loader.exec_module(metrics)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return {"ran": False, "why": f"NVML: {error}", "file": ""}
    try:
        started = time.perf_counter()
        pynvml.nvmlShutdown()
        pynvml.nvmlInit()
        init_ms = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(READINGS):
            started = time.perf_counter()
            text = metrics.render(metrics.read_samples(pynvml, {}, metrics.XidCounts()))
            timings.append((time.perf_counter() - started) * 1000)
        # Whether this driver delivers XID errors as events (else the daemon only sleeps).
        xid_events = metrics.XidWatch(pynvml, metrics.XidCounts()).events is not None
    finally:
        pynvml.nvmlShutdown()
    output = work / "rayfleet_gpu.prom"
    daemon = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "roles/node_exporter/files/rayfleet_gpu_metrics.py"),
            "--output",
            str(output),
            "--interval",
            "1",
        ],
    )
    try:
        time.sleep(4)
        status = Path(f"/proc/{daemon.pid}/status").read_text()
        rss_kib = int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        )
        alive = daemon.poll() is None
    finally:
        daemon.terminate()
        daemon.wait(10)
    return {
        "ran": True,
        "nvml_init_ms": round(init_ms, 2),
        "reading_ms": {
            "median": round(statistics.median(timings), 3),
            "min": round(min(timings), 3),
            "max": round(max(timings), 3),
            "readings": READINGS,
        },
        "xid_events_watched": xid_events,
        "daemon_alive_after_4s": alive,
        "daemon_rss_mib": round(rss_kib / 1024, 1),
        "file": output.read_text() if output.exists() else "",
        "in_process_text": text,
    }


def agreement(report: dict[str, Any]) -> dict[str, bool]:
    facts = (report["facts"].get("rayfleet_gpus") or {}).get("gpus", [])
    ray = report["ray"]
    exporter_file = report["exporter"]["file"]
    checks = {
        "facts_read_gpus": bool(facts),
        "every_gpu_in_the_exporters_file": bool(facts)
        and all(f'uuid="{gpu["uuid"]}"' in exporter_file for gpu in facts),
    }
    if ray.get("ran"):
        checks["ray_counts_the_same_gpus"] = ray["num_gpus"] == len(facts)
        checks["ray_names_the_same_type"] = bool(facts) and (
            ray["accelerator_type"] == facts[0]["accelerator_type"]
        )
    return checks


if __name__ == "__main__":
    sys.exit(main())
