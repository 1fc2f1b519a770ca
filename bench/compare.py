"""rayfleet side by side with what a user would run instead, on fresh lab hosts (issue 16).

Each round creates fresh lab hosts (Ray only: a head and workers, no Redis, no monitoring)
for every contender, with the same wheelhouse for all, and measures in the same round:

  floor_cold_s     the hand-rolled floor: the wheelhouse copied to every host at once (scp),
                   python3-venv, a venv, an offline pip install, `ray start` on the head, then
                   on the workers (as soon as each is installed), to every node ALIVE
  rayfleet_cold_s  `ansible-playbook playbooks/ray.yml` on fresh hosts, to every node ALIVE;
                   the controller's venv pack is built by the first round that lacks it
                   (`pack_built`), or by every round with `--fresh-pack`
  rayfleet_noop_s  the same playbook again, which must report changed=0
  facts_s          a facts-only play, `ansible all -m setup`, on the same hosts
  ray_up_cold_s    with --ray-up: `ray up` with Ray's local provider and the floor's commands,
                   autoscaler v1 (Ray 2.60's default v2 never brings the workers up here), to
                   every node ALIVE; rsync, which `ray up` syncs files with, is installed on the
                   hosts before the clock starts

Each ``<run>_s`` has its ``<run>_cpu_s``: the CPU seconds the controller spent on it (ansible
and its forks, ssh and its ControlPersist masters, scp, `ray up`), which grows with the host
count on any fleet, where the hosts' own work does not. Each run opens its own SSH connections.
And its ``<run>_machine_cpu_s``: the busy CPU seconds of the whole machine (/proc/stat), the
lab hosts' work included, as they share its cores; a run whose ``<run>_busy`` (those seconds
over the cores' wall seconds) is near 1 can only go faster by doing less work.

Ratios are paired per round (rayfleet / rival of the same round). The figures of the other
benchmarks (results/*.json) are collected into the same report.

    .venv/bin/python bench/compare.py --hosts 3 --runs 3
    .venv/bin/python bench/compare.py --hosts 6 --runs 2
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from figures import REPO_ROOT, lab_arguments, summary, write_figures
from ray.autoscaler._private.local.config import get_state_path

from ansible_collections.rayfleet.cluster.plugins.module_utils.venv_pack import PACK_SUFFIX
from rayfleet.lab.hosts import LabHost, LabNetwork
from rayfleet.lab.session import STATE_DIR, start_hosts, stop_hosts
from rayfleet.paths import ray_defaults

# A subnet of its own: the lab's and molecule's scenarios use 10.89.90 to 10.89.96, and a
# bench sharing one would run its playbooks on their hosts.
NETWORK = LabNetwork("rayfleet-bench", "10.89.99.0/24")
WHEELHOUSES = Path.home() / ".cache" / "rayfleet" / "wheelhouse"
TIMINGS_CALLBACKS = REPO_ROOT / "bench" / "callbacks"
TARGETS = {"cold_vs_floor": 0.8, "noop_vs_facts": 3.0, "cold_vs_ray_up": 0.5}
FLOOR_VENV = "/opt/floor/venv"
FLOOR_WHEELHOUSE = "/opt/floor/wheelhouse"
DASHBOARD_PORT = 8265
ALIVE_TIMEOUT_S = 300
RAY_UP_CLUSTER = "bench"
# What measured() writes of each run.
MEASURES = ("_s", "_cpu_s", "_machine_cpu_s", "_busy")

INVENTORY = """\
---
ray_head:
  hosts:
    head:
      ansible_host: {head}
ray_workers:
  children:
    cpu:
      hosts:
{workers}
"""
# Lab hosts get new host keys whenever they are made: Ansible and the rivals skip the check.
SSH_OPTIONS = [
    "-i",
    str(STATE_DIR / "id_ed25519"),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
]
SSH = ["ssh", *SSH_OPTIONS]
GROUP_VARS = f"""\
---
ansible_user: root
ansible_ssh_private_key_file: {STATE_DIR / "id_ed25519"}
ansible_ssh_common_args: {" ".join(SSH_OPTIONS[2:])}
ray_cluster_name: bench
ray_install_source: wheelhouse
ray_num_cpus: 2
"""


def lab_hosts(count: int) -> list[LabHost]:
    return [LabHost("head", "10.89.99.10")] + [
        LabHost(f"w-{n}", f"10.89.99.{10 + n}") for n in range(1, count)
    ]


def fresh_hosts(count: int) -> list[LabHost]:
    stop_hosts(NETWORK.name)
    hosts = lab_hosts(count)
    start_hosts(NETWORK, hosts)
    settle_kernel()
    return hosts


def settle_kernel() -> None:
    """Drops the kernel's caches, so that each contender starts from the same state.

    The lab hosts share this machine's kernel, and each round's hosts are made and removed:
    with every host made and removed, writing the same venv took longer (one host's unpack:
    3.7 s, then 6.9, 9.3 and 12.0 s in four rounds in a row, mostly kernel time), until the
    caches were dropped (3.7 s again). Real hosts do not share a kernel with the last
    contender's; the controller's own files are read cold after this too.
    """
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def write_inventory(directory: Path, hosts: list[LabHost]) -> Path:
    workers = "\n".join(
        f"        {host.name}:\n          ansible_host: {host.address}" for host in hosts[1:]
    )
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(INVENTORY.format(head=hosts[0].address, workers=workers))
    (directory / "group_vars" / "all.yml").write_text(GROUP_VARS)
    return directory


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def controller_cpu_s() -> float:
    """CPU seconds of this process's finished children: ansible and its forks, ssh, scp."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def end_leftovers() -> None:
    """Ends what a run left behind and waits for it, so that its CPU counts in the run's.

    Ansible's and `ray up`'s SSH masters (ControlPersist) outlive the run that started them,
    and they do its encryption. As this process is a subreaper, they are its children now.
    Each run then starts its own connections, as a run a few minutes after another does.
    """
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
            parent = int(fields.split()[1])
        except (OSError, IndexError, ValueError):
            continue
        # Only SSH masters: podman's container monitors are orphans of this process too.
        if parent == me and name.endswith("(ssh"):
            pid = int(stat.parent.name)
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine since boot: user, nice, system, irq and softirq
    (not idle, iowait, the hypervisor's steal, or guest time, which user already counts)."""
    fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def measured(figures: dict[str, Any], name: str, action: Callable[[], Any]) -> Any:
    """``action`` timed into ``figures``: ``<name>_s`` wall, ``<name>_cpu_s`` the controller's,
    ``<name>_machine_cpu_s`` the machine's and ``<name>_busy`` its share of the cores' time."""
    # Orphans of the run become this process's children (PR_SET_CHILD_SUBREAPER).
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    end_leftovers()
    cpu, machine_cpu = controller_cpu_s(), machine_cpu_s()
    figures[f"{name}_s"], result = timed(action)
    end_leftovers()
    figures[f"{name}_cpu_s"] = controller_cpu_s() - cpu
    figures[f"{name}_machine_cpu_s"] = machine_cpu_s() - machine_cpu
    figures[f"{name}_busy"] = figures[f"{name}_machine_cpu_s"] / (
        (os.cpu_count() or 1) * figures[f"{name}_s"]
    )
    return result


def ansible(args: list[str], inventory: Path, timings: Path | None = None) -> str:
    """Runs an ansible command from the repository; its output, or it raises with it."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if timings is not None:
        env |= {
            "ANSIBLE_CALLBACK_PLUGINS": str(TIMINGS_CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "task_timings",
            "RAYFLEET_TASK_TIMINGS": str(timings),
        }
    return venv_command([args[0], "-i", str(inventory), *args[1:]], env)


def venv_command(argv: list[str], env: dict[str, str]) -> str:
    """Runs a command of this venv (ansible, ray) from the repository; its output, or raises."""
    binary = Path(sys.executable).with_name(argv[0])
    done = subprocess.run(
        [str(binary), *argv[1:]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
        )
    return done.stdout


def changed_count(recap: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap.split("PLAY RECAP", 1)[-1]))


def wheelhouse_archive() -> Path:
    """A wheelhouse rayfleet's runs downloaded, for the rivals: the pinned Ray's smallest.

    Every one holds ray[default]; the smallest (without what an autoscaling head adds) is the
    least for the rivals to copy.
    """
    pattern = f"ray-{ray_defaults()['ray_version']}-*.tar"
    archives = sorted(WHEELHOUSES.glob(pattern), key=lambda path: path.stat().st_size)
    if not archives:
        raise RuntimeError("no wheelhouse yet: run a round of rayfleet first (it downloads it)")
    return archives[0]


def ssh(host: LabHost, command: str) -> None:
    subprocess.run([*SSH, f"root@{host.address}", command], check=True, capture_output=True)


def floor_install(host: LabHost, archive: Path, head: LabHost) -> None:
    """What a hand-rolled install does on one host, start included."""
    subprocess.run(
        ["scp", "-q", *SSH_OPTIONS, str(archive), f"root@{host.address}:/root/wheelhouse.tar"],
        check=True,
        capture_output=True,
    )
    start = (
        f"--head --port=6379 --dashboard-host=0.0.0.0 --dashboard-port={DASHBOARD_PORT}"
        if host == head
        else f"--address={head.address}:6379"
    )
    commands = [
        "set -e",
        apt_install("python3-venv"),
        *floor_setup(),
        f"{FLOOR_VENV}/bin/ray start {start} --num-cpus=2 --disable-usage-stats >/dev/null",
    ]
    ssh(host, "; ".join(commands))


def apt_install(package: str) -> str:
    return f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package} >/dev/null"


def floor_setup() -> list[str]:
    """The wheelhouse unpacked, a venv, Ray installed offline: what the floor and `ray up` run."""
    ray = f"ray[default]=={ray_defaults()['ray_version']}"
    pip = f"{FLOOR_VENV}/bin/pip install --quiet --no-index"
    return [
        f"mkdir -p {FLOOR_WHEELHOUSE} && tar -xf /root/wheelhouse.tar -C {FLOOR_WHEELHOUSE}",
        f"python3 -m venv {FLOOR_VENV}",
        f"{pip} --find-links={FLOOR_WHEELHOUSE} '{ray}'",
    ]


def alive_nodes(head: LabHost) -> int:
    url = f"http://{head.address}:{DASHBOARD_PORT}/api/v0/nodes?limit=1000"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            nodes = json.load(response)["data"]["result"]["result"]
    except OSError:
        return 0
    return sum(1 for node in nodes if node["state"] == "ALIVE")


def floor_cold(hosts: list[LabHost], archive: Path) -> None:
    head = hosts[0]
    with ThreadPoolExecutor(len(hosts)) as pool:
        # The head first among equals: workers that finish earlier retry until its GCS answers.
        list(pool.map(lambda host: floor_install(host, archive, head), hosts))
    wait_alive(hosts)


def wait_alive(hosts: list[LabHost]) -> None:
    deadline = time.monotonic() + ALIVE_TIMEOUT_S
    while alive_nodes(hosts[0]) < len(hosts):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(hosts)} nodes not ALIVE after {ALIVE_TIMEOUT_S}s")
        time.sleep(0.2)


def ray_up_config(hosts: list[LabHost], archive: Path) -> dict[str, Any]:
    """Ray's local provider given the floor's setup, so that `ray up` does what the floor does."""
    venv_ray = f"{FLOOR_VENV}/bin/ray"
    return {
        "cluster_name": RAY_UP_CLUSTER,
        "provider": {
            "type": "local",
            "head_ip": hosts[0].address,
            "worker_ips": [host.address for host in hosts[1:]],
        },
        "auth": {"ssh_user": "root", "ssh_private_key": str(STATE_DIR / "id_ed25519")},
        "upscaling_speed": 100.0,
        "idle_timeout_minutes": 60,
        "file_mounts": {"/root/wheelhouse.tar": str(archive)},
        "setup_commands": floor_setup(),
        "head_start_ray_commands": [
            f"{venv_ray} stop",
            f"RAY_enable_autoscaler_v2=0 {venv_ray} start --head --port=6379 "
            "--dashboard-host=0.0.0.0 --autoscaling-config=~/ray_bootstrap_config.yaml "
            "--num-cpus=2 --disable-usage-stats",
        ],
        "worker_start_ray_commands": [
            f"{venv_ray} stop",
            f"{venv_ray} start --address=$RAY_HEAD_IP:6379 --num-cpus=2",
        ],
    }


def ray_up_cold(hosts: list[LabHost], archive: Path, workdir: Path) -> None:
    # The local provider remembers the nodes it set up, by address: an earlier round's would
    # make `ray up` skip the setup of this round's fresh hosts.
    Path(get_state_path(RAY_UP_CLUSTER)).unlink(missing_ok=True)
    config = workdir / "ray-up.yaml"
    config.write_text(json.dumps(ray_up_config(hosts, archive)))
    venv_command(
        ["ray", "up", "-y", "--no-config-cache", "--disable-usage-stats", str(config)],
        {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    wait_alive(hosts)


def profile(timings: Path, top: int = 15) -> list[dict[str, Any]]:
    """The tasks that took longest (the slowest host each), from the task_timings callback."""
    slowest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in timings.read_text().splitlines():
        row = json.loads(line)
        key = (row["task"], row["path"].replace(str(REPO_ROOT) + "/", ""))
        if key not in slowest or row["s"] > slowest[key]["s"]:
            slowest[key] = {"task": key[0], "path": key[1], "s": row["s"], "status": row["status"]}
    rows = sorted(slowest.values(), key=lambda row: -row["s"])
    return [
        {"tasks": len(rows), "sum_of_slowest_s": round(sum(r["s"] for r in rows), 2)},
        *rows[:top],
    ]


def converged_checks(timings: Path) -> dict[str, dict[str, Any]]:
    """Each host's converged check in a run: whether its record matched, why not, and on a
    head the nodes its dashboard listed ALIVE (none listed: every Ray host takes the run)."""
    checks = {}
    for line in timings.read_text().splitlines():
        row = json.loads(line)
        # The check in validate.yml, not the record unlock.yml takes with the same module.
        if row.get("converged") is not None and "validate.yml" in row["path"]:
            checks[row["host"]] = {
                "converged": row["converged"],
                **{key: row[key] for key in ("reason", "alive_nodes") if row.get(key)},
            }
    return checks


def one_round(count: int, fresh_pack: bool, with_ray_up: bool, workdir: Path) -> dict[str, Any]:
    if fresh_pack:
        for pack in WHEELHOUSES.glob(f"*{PACK_SUFFIX}"):
            pack.unlink()
    # Whether this round's cold run paid for building the venv pack (the first round may).
    figures: dict[str, Any] = {"pack_built": not any(WHEELHOUSES.glob(f"*{PACK_SUFFIX}"))}
    inventory = write_inventory(workdir / "inventory", lab_hosts(count))
    hosts = fresh_hosts(count)
    cold_timings, noop_timings = workdir / "cold.jsonl", workdir / "noop.jsonl"
    for stale in (cold_timings, noop_timings):
        stale.unlink(missing_ok=True)
    measured(
        figures,
        "rayfleet_cold",
        lambda: ansible(["ansible-playbook", "playbooks/ray.yml"], inventory, cold_timings),
    )
    recap = measured(
        figures,
        "rayfleet_noop",
        lambda: ansible(["ansible-playbook", "playbooks/ray.yml"], inventory, noop_timings),
    )
    if changed_count(recap):
        raise RuntimeError(f"the second run changed something:\n{recap[-3000:]}")
    measured(
        figures,
        "facts",
        lambda: ansible(["ansible", "all", "-m", "ansible.builtin.setup"], inventory),
    )
    figures["profile_cold"] = profile(cold_timings)
    figures["profile_noop"] = profile(noop_timings)
    # Why a no-op took a host through the full run, where it did.
    figures["noop_checks"] = converged_checks(noop_timings)
    hosts = fresh_hosts(count)
    measured(figures, "floor_cold", lambda: floor_cold(hosts, wheelhouse_archive()))
    if with_ray_up:
        hosts = fresh_hosts(count)
        with ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(lambda host: ssh(host, apt_install("rsync")), hosts))
        measured(figures, "ray_up_cold", lambda: ray_up_cold(hosts, wheelhouse_archive(), workdir))
    stop_hosts(NETWORK.name)
    return figures


def collected(results: Path) -> dict[str, Any]:
    """The other benchmarks' headline figures, as they last wrote them."""
    headline = {
        "head_recovery": ("recovery_s", "head_start_s"),
        "autoscaler_latency": ("warm", "cold"),
        "monitoring": ("discovery_s", "removal_s"),
        "site_noop": ("site_noop_s", "facts_s", "ratio"),
        "fault_recovery": (
            "worker_crash_s",
            "worker_restart_s",
            "provisioner_crash_s",
            "state_rebuild_s",
        ),
    }
    found: dict[str, Any] = {}
    for name, keys in headline.items():
        path = results / f"{name}.json"
        if path.exists():
            document = json.loads(path.read_text())
            found[name] = {"date": document.get("date"), **{key: document.get(key) for key in keys}}
    return found


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--fresh-pack", action="store_true", help="delete the controller's venv pack each round"
    )
    parser.add_argument(
        "--ray-up", action="store_true", help="time `ray up` too (needs rsync here)"
    )
    args = parser.parse_args()
    if not 2 <= args.hosts <= 40:
        parser.error("--hosts: 2 to 40 (the bench network's addresses)")

    rounds = []
    with tempfile.TemporaryDirectory(prefix="rayfleet-compare-") as workdir:
        for number in range(1, args.runs + 1):
            figures = one_round(args.hosts, args.fresh_pack, args.ray_up, Path(workdir))
            rounds.append(figures)
            print(
                f"round {number}: "
                + ", ".join(
                    f"{name} {value:.1f}" for name, value in figures.items() if name.endswith("_s")
                ),
                flush=True,
            )
    ratios = {
        "cold_vs_floor": [r["rayfleet_cold_s"] / r["floor_cold_s"] for r in rounds],
        "noop_vs_facts": [r["rayfleet_noop_s"] / r["facts_s"] for r in rounds],
    }
    reported = [
        f"{run}{unit}"
        for run in ("rayfleet_cold", "floor_cold", "rayfleet_noop", "facts")
        for unit in MEASURES
    ]
    if args.ray_up:
        ratios["cold_vs_ray_up"] = [r["rayfleet_cold_s"] / r["ray_up_cold_s"] for r in rounds]
        reported += [f"ray_up_cold{unit}" for unit in MEASURES]
    document = write_figures(
        args.out,
        f"compare-{args.hosts}-hosts"
        + ("-fresh-pack" if args.fresh_pack else "")
        + ("-ray-up" if args.ray_up else ""),
        {
            "hosts": args.hosts,
            "fresh_pack": args.fresh_pack,
            **{name: summary([r[name] for r in rounds]) for name in reported},
            "ratios": {name: summary(values) for name, values in ratios.items()},
            "targets": {
                name: {"at_most": TARGETS[name], "met": max(values) <= TARGETS[name]}
                for name, values in ratios.items()
            },
            "rounds": rounds,
            "other_benchmarks": collected(args.out),
        },
    )
    print(json.dumps({key: document[key] for key in ("ratios", "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
