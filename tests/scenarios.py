"""Runs every molecule scenario, in lanes: each lane's scenarios one after another, the
lanes side by side.

This machine (two cores) runs one lane: with two labs at once, Ray's own start-up limits
fired (a raylet must register within 30 s, fixed in Ray 2.60) and heads restarted in a
loop. A bigger machine can list more lanes in LANES; molecule's converge and idempotence
steps then take a lock, one lab at a time. Each scenario runs molecule's test sequence
step by step, and destroy always runs. Every scenario under molecule/ must be in a lane,
so none is left out. Each scenario's output goes to .cache/molecule-logs/<name>.log; the
end of a failed one is printed. Usage:

    .venv/bin/python tests/scenarios.py            # every scenario
    .venv/bin/python tests/scenarios.py NAME ...   # some of them, one after another
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = REPO_ROOT / ".cache" / "molecule-logs"
LANES = (("gcs_ft", "default", "autoscaler", "monitoring"),)
FAILED_TAIL_LINES = 200
# molecule test's sequence up to the verify; the lock holds one lane's at a time.
CONVERGE_STEPS = ("destroy", "syntax", "converge", "idempotence")
CONVERGE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    scenario: str
    rc: int
    seconds: float


def scenarios_on_disk() -> set[str]:
    return {path.parent.name for path in (REPO_ROOT / "molecule").glob("*/molecule.yml")}


def run_scenario(scenario: str) -> Outcome:
    start = time.monotonic()
    with (LOG_DIR / f"{scenario}.log").open("w") as log:

        def molecule(step: str) -> int:
            return subprocess.call(
                [str(Path(sys.executable).parent / "molecule"), step, "--scenario-name", scenario],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        try:
            with CONVERGE_LOCK:
                rc = next((rc for step in CONVERGE_STEPS if (rc := molecule(step)) != 0), 0)
            if rc == 0:
                rc = molecule("verify")
        finally:
            molecule("destroy")
    outcome = Outcome(scenario, rc, time.monotonic() - start)
    verdict = "passed" if rc == 0 else f"FAILED (rc {rc})"
    print(f"scenario {scenario}: {verdict} in {outcome.seconds:.0f} s", flush=True)
    return outcome


def run_lanes(lanes: tuple[tuple[str, ...], ...]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def run_lane(lane: tuple[str, ...]) -> None:
        for scenario in lane:
            try:
                outcome = run_scenario(scenario)
            # Any error (molecule missing, a log that cannot be written) fails the scenario,
            # and the lane goes on to the next.
            except Exception as error:
                print(f"scenario {scenario}: FAILED ({error!r})", flush=True)
                outcome = Outcome(scenario, 1, 0.0)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run_lane, args=(lane,)) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def main(names: list[str]) -> int:
    on_disk = scenarios_on_disk()
    in_lanes = {scenario for lane in LANES for scenario in lane}
    if in_lanes != on_disk:
        print(f"scenarios.py: lanes list {sorted(in_lanes)}, molecule/ has {sorted(on_disk)}")
        return 2
    unknown = set(names) - on_disk
    if unknown:
        print(f"scenarios.py: no scenario {sorted(unknown)}")
        return 2
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    lanes = (tuple(dict.fromkeys(names)),) if names else LANES
    outcomes = run_lanes(lanes)
    failed = [outcome for outcome in outcomes if outcome.rc != 0]
    for outcome in failed:
        log = LOG_DIR / f"{outcome.scenario}.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
        print(f"\n===== the end of {outcome.scenario}'s log =====")
        print("\n".join(lines[-FAILED_TAIL_LINES:]))
    elapsed = time.monotonic() - start
    print(f"scenarios: {len(outcomes) - len(failed)} of {len(outcomes)} passed in {elapsed:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
