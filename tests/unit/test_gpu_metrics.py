"""rayfleet-gpu-metrics: GPU readings for node_exporter's textfile collector, from NVML.

Against a simulated NVML (fake_nvml): no GPU here. promtool checks the file's format.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fake_nvml import GIB, FakeGpu, FakeNvml, eight_h100s, gpu_uuid
from role_files import load_role_file

PROMTOOL = Path(sys.executable).parent / "promtool"


metrics = load_role_file("node_exporter", "rayfleet_gpu_metrics")


def scrape(nvml: FakeNvml, owners: dict[str, str] | None = None) -> str:
    text: str = metrics.render(metrics.read_samples(nvml, owners or {}, metrics.XidCounts()))
    return text


def value(text: str, name: str, **labels: str) -> float:
    """The one series of ``name`` whose labels include ``labels``."""
    found = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(f"rayfleet_gpu_{name}{{")
        and all(f'{key}="{wanted}"' in line for key, wanted in labels.items())
    ]
    assert len(found) == 1, (name, labels, text)
    return found[0]


def test_each_gpu_is_labelled_with_its_uuid_and_the_ray_node_that_owns_it() -> None:
    owners = {gpu_uuid(0): "gpu-1/0", gpu_uuid(1): "gpu-1/0", gpu_uuid(2): "gpu-1/1"}
    text = scrape(eight_h100s(), owners)
    assert value(text, "up", uuid=gpu_uuid(1), ray_node="gpu-1/0") == 1
    assert value(text, "up", uuid=gpu_uuid(2), ray_node="gpu-1/1") == 1
    assert value(text, "up", uuid=gpu_uuid(7), ray_node="") == 1
    assert value(text, "info", gpu="3", model="NVIDIA H100 80GB HBM3") == 1


def test_readings_come_in_prometheus_units() -> None:
    nvml = FakeNvml(
        gpus=[
            FakeGpu(
                gpu_uuid(0),
                utilization=87,
                memory_used=30 * GIB,
                temperature=71,
                power_mw=612_500,
                ecc_errors=(4, 1),
                clock_reasons=0x40 | 0x1,
            )
        ]
    )
    text = scrape(nvml)
    assert value(text, "utilization_ratio") == 0.87
    assert value(text, "memory_used_bytes") == 30 * GIB
    assert value(text, "memory_total_bytes") == 80 * GIB
    assert value(text, "temperature_celsius") == 71
    assert value(text, "power_watts") == 612.5
    assert value(text, "ecc_errors_total", type="corrected") == 4
    assert value(text, "ecc_errors_total", type="uncorrected") == 1
    assert value(text, "throttled", reason="hw_thermal_slowdown") == 1
    assert value(text, "throttled", reason="sw_power_cap") == 0


def test_a_gpu_that_fell_off_the_bus_reports_down_and_the_others_carry_on() -> None:
    nvml = eight_h100s()
    nvml.gpus[5].lost = True
    text = scrape(nvml)
    assert value(text, "up", uuid=gpu_uuid(5)) == 0
    assert not re.search(rf'temperature_celsius{{[^}}]*uuid="{gpu_uuid(5)}"', text)
    assert value(text, "up", uuid=gpu_uuid(4)) == 1


def test_an_owned_gpu_nvml_no_longer_lists_reports_down() -> None:
    nvml = eight_h100s()
    del nvml.gpus[7]
    text = scrape(nvml, {gpu_uuid(7): "gpu-1/3", gpu_uuid(0): "gpu-1/0"})
    assert value(text, "up", uuid=gpu_uuid(7), ray_node="gpu-1/3") == 0
    assert value(text, "up", uuid=gpu_uuid(0), ray_node="gpu-1/0") == 1


def test_readings_a_board_lacks_are_left_out() -> None:
    text = scrape(FakeNvml(gpus=[FakeGpu(gpu_uuid(0), power_mw=None, ecc=None)]))
    assert "rayfleet_gpu_power_watts{" not in text
    assert "rayfleet_gpu_ecc_errors_total{" not in text
    assert value(text, "temperature_celsius") == 35


def test_xid_errors_are_counted_per_gpu() -> None:
    xids = metrics.XidCounts()
    xids.add(gpu_uuid(2), 79)
    xids.add(gpu_uuid(2), 48)
    text = metrics.render(metrics.read_samples(eight_h100s(), {}, xids))
    assert value(text, "xid_errors_total", uuid=gpu_uuid(2)) == 2
    assert value(text, "last_xid", uuid=gpu_uuid(2)) == 48
    assert value(text, "xid_errors_total", uuid=gpu_uuid(3)) == 0


def test_the_file_is_valid_for_node_exporter(tmp_path: Path) -> None:
    output = tmp_path / "rayfleet_gpu.prom"
    metrics.write_atomically(output, scrape(eight_h100s(), {gpu_uuid(0): 'a "quoted" node'}))
    assert oct(output.stat().st_mode & 0o777) == "0o644"
    assert [path.name for path in tmp_path.iterdir()] == ["rayfleet_gpu.prom"]
    check = subprocess.run(
        [str(PROMTOOL), "check", "metrics"],
        input=output.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    # promtool lints names too; it has nothing to say about these.
    assert check.returncode == 0, check.stdout + check.stderr
