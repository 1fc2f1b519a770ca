"""A no-op `site.yml` on the whole lab (Redis, pool, monitoring) against a facts-only play.

On the lab `make lab` brings up (or any inventory rayfleet deployed), each round runs, back to
back on the same hosts: `ansible-playbook playbooks/site.yml`, which must report changed=0, and
`ansible all -m setup`. Ratios are paired per round. A first round, not counted, runs with the
task timings callback: its profile (the slowest host of each task) says where the time goes.

    make lab && .venv/bin/python bench/site_noop.py --runs 3
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from compare import TARGETS, ansible, changed_count, measured, profile
from figures import lab_arguments, summary, write_figures


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    site = ["ansible-playbook", "playbooks/site.yml"]
    rounds = []
    with tempfile.TemporaryDirectory(prefix="rayfleet-site-noop-") as workdir:
        # A round of its own, not counted, with the task timings: where the time goes.
        timings = Path(workdir) / "noop.jsonl"
        ansible(site, args.inventory, timings)
        slowest = profile(timings, top=25)
    for number in range(1, args.runs + 1):
        figures: dict[str, float] = {}
        recap = measured(figures, "site_noop", lambda: ansible(site, args.inventory))
        if changed_count(recap):
            raise RuntimeError(f"site.yml changed something:\n{recap[-3000:]}")
        measured(
            figures,
            "facts",
            lambda: ansible(["ansible", "all", "-m", "ansible.builtin.setup"], args.inventory),
        )
        rounds.append(figures)
        print(
            f"round {number}: site.yml {figures['site_noop_s']:.1f} s, "
            f"facts {figures['facts_s']:.1f} s",
            flush=True,
        )
    ratios = [r["site_noop_s"] / r["facts_s"] for r in rounds]
    document = write_figures(
        args.out,
        "site_noop",
        {
            **{name: summary([r[name] for r in rounds]) for name in rounds[0]},
            "ratio": summary(ratios),
            "target": {
                "at_most": TARGETS["noop_vs_facts"],
                "met": max(ratios) <= TARGETS["noop_vs_facts"],
            },
            "rounds": rounds,
            "profile": slowest,
        },
    )
    print(json.dumps({key: document[key] for key in ("site_noop_s", "facts_s", "ratio")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
