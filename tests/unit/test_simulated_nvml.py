"""rayfleet's SIMULATED NVML (src/rayfleet/lab/data/simulated_nvml.c), loaded as the driver's
libnvidia-ml.so.1 by nvidia-ml-py and by the pinned Ray: both must see the same GPUs.

Each probe runs in a process of its own: NVML binds its library once per process.
`make unit` builds the library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / ".cache" / "simulated-nvml" / "libnvidia-ml.so.1"

PROBE = """
import importlib.util, json, sys
import pynvml
from ansible_collections.rayfleet.cluster.plugins.module_utils.gpu import (
    NvmlUnavailableError, read_host_gpus)
from ansible_collections.rayfleet.cluster.plugins.module_utils.plain_data import plain
from ray._private.accelerators.nvidia_gpu import NvidiaGPUAcceleratorManager as Ray

spec = importlib.util.spec_from_file_location("metrics", sys.argv[1])
metrics = importlib.util.module_from_spec(spec)
sys.modules["metrics"] = metrics
spec.loader.exec_module(metrics)
try:
    facts = plain(read_host_gpus(pynvml))
except NvmlUnavailableError as error:
    facts = {"unavailable": str(error)}
text = ""
if "gpus" in facts:
    pynvml.nvmlInit()
    text = metrics.render(metrics.read_samples(pynvml, {}, metrics.XidCounts()))
    pynvml.nvmlShutdown()
print(json.dumps({
    "facts": facts,
    "ray": [Ray.get_current_node_num_accelerators(), Ray.get_current_node_accelerator_type()],
    "metrics": text,
}))
"""


def probe(tmp_path: Path, config: str | None) -> dict[str, Any]:
    """What each sees on a host the config describes; None: a host without the file."""
    assert LIBRARY.is_file(), f"{LIBRARY} is missing: `make unit` builds it"
    conf = tmp_path / "simulated-gpus.conf"
    if config is not None:
        conf.write_text(config)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(REPO / "roles/node_exporter/files/rayfleet_gpu_metrics.py"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "LD_LIBRARY_PATH": str(LIBRARY.parent),
            "RAYFLEET_SIMULATED_NVML": str(conf),
        },
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


FOUR_H100S = "gpus=4\nmodel=NVIDIA H100 80GB HBM3\nmemory_mib=81559\ndriver_version=550.54.15\n"


def test_rayfleet_and_ray_see_the_same_simulated_gpus(tmp_path: Path) -> None:
    seen = probe(tmp_path, FOUR_H100S)
    gpus = seen["facts"]["gpus"]
    assert [gpu["accelerator_type"] for gpu in gpus] == ["H100"] * 4
    assert seen["ray"] == [4, "H100"]
    assert seen["facts"]["driver_version"] == "550.54.15"
    assert gpus[0]["memory_bytes"] == 81559 * 2**20
    assert len({gpu["uuid"] for gpu in gpus}) == 4
    assert all(gpu["uuid"].startswith("GPU-") for gpu in gpus)
    for gpu in gpus:
        assert (
            f'rayfleet_gpu_up{{gpu="{gpu["index"]}",ray_node="",uuid="{gpu["uuid"]}"}} 1'
            in (seen["metrics"])
        )


def test_mig_devices_are_simulated_on_the_gpu_asked(tmp_path: Path) -> None:
    seen = probe(tmp_path, FOUR_H100S + "mig_gpu=1\nmig_profiles=3g.40gb,4g.40gb\n")
    gpus = seen["facts"]["gpus"]
    assert [gpu["mig_enabled"] for gpu in gpus] == [False, True, False, False]
    assert [(mig["profile"], mig["memory_bytes"]) for mig in gpus[1]["mig_devices"]] == [
        ("3g.40gb", 40 * 2**30),
        ("4g.40gb", 40 * 2**30),
    ]
    assert all(mig["uuid"].startswith("MIG-") for mig in gpus[1]["mig_devices"])


def test_injected_faults_show_in_the_metrics(tmp_path: Path) -> None:
    seen = probe(tmp_path, FOUR_H100S + "lost_gpu=2\nuncorrected_ecc_gpu=1\nhot_gpu=3\n")
    assert [gpu["lost"] for gpu in seen["facts"]["gpus"]] == [False, False, True, False]
    metrics = seen["metrics"]
    lines = metrics.splitlines()
    assert any(line.startswith('rayfleet_gpu_up{gpu="2"') and line.endswith(" 0") for line in lines)
    assert any(
        'gpu="1"' in line and 'type="uncorrected"' in line and line.endswith(" 1") for line in lines
    )
    assert any(
        line.startswith('rayfleet_gpu_temperature_celsius{gpu="3"') and line.endswith(" 95")
        for line in lines
    )


@pytest.mark.parametrize("config", ["state=no_driver\n", None], ids=["no-driver", "no-config"])
def test_a_host_without_a_driver_has_no_gpus_for_either(tmp_path: Path, config: str | None) -> None:
    seen = probe(tmp_path, config)
    assert "not loaded" in seen["facts"]["unavailable"]
    assert seen["ray"] == [0, None]
