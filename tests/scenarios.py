"""Runs every molecule scenario, one after another.

Not side by side: on this machine (two cores) two labs at once made Ray's own start-up
limits fire (a raylet must register within 30 s, fixed in Ray 2.60) and heads restarted in
a loop. Each scenario runs molecule's test sequence step by step, and destroy always runs.
Every scenario under molecule/ must be in SCENARIOS, so none is left out. Each scenario's
output goes to .cache/molecule-logs/<name>.log; the end of a failed one is printed. Usage:

    .venv/bin/python tests/scenarios.py            # every scenario
    .venv/bin/python tests/scenarios.py NAME ...   # some of them
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = REPO_ROOT / ".cache" / "molecule-logs"
SCENARIOS = ("gcs_ft", "default", "autoscaler", "monitoring", "gpu")
FAILED_TAIL_LINES = 200
# molecule test's sequence up to the verify.
CONVERGE_STEPS = ("destroy", "syntax", "converge", "idempotence")


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
            step_start = time.monotonic()
            rc = subprocess.call(
                [str(Path(sys.executable).parent / "molecule"), step, "--scenario-name", scenario],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            # Where the suite's time goes, step by step, in CI's output too.
            seconds = time.monotonic() - step_start
            print(f"  {scenario} {step}: rc {rc} in {seconds:.0f} s", flush=True)
            return rc

        try:
            rc = next((rc for step in CONVERGE_STEPS if (rc := molecule(step)) != 0), 0)
            if rc == 0:
                rc = molecule("verify")
        finally:
            molecule("destroy")
    outcome = Outcome(scenario, rc, time.monotonic() - start)
    verdict = "passed" if rc == 0 else f"FAILED (rc {rc})"
    print(f"scenario {scenario}: {verdict} in {outcome.seconds:.0f} s", flush=True)
    return outcome


def run_all(scenarios: tuple[str, ...]) -> list[Outcome]:
    outcomes = []
    for scenario in scenarios:
        try:
            outcomes.append(run_scenario(scenario))
        # Any error (molecule missing, a log that cannot be written) fails the scenario,
        # and the next one runs.
        except Exception as error:
            print(f"scenario {scenario}: FAILED ({error!r})", flush=True)
            outcomes.append(Outcome(scenario, 1, 0.0))
    return outcomes


def main(names: list[str]) -> int:
    on_disk = scenarios_on_disk()
    if set(SCENARIOS) != on_disk:
        print(f"scenarios.py: SCENARIOS lists {sorted(SCENARIOS)}, molecule/ has {sorted(on_disk)}")
        return 2
    unknown = set(names) - on_disk
    if unknown:
        print(f"scenarios.py: no scenario {sorted(unknown)}")
        return 2
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    outcomes = run_all(tuple(dict.fromkeys(names)) if names else SCENARIOS)
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
