"""A no-op `site.yml` on the whole lab (Redis, pool, monitoring) against a facts-only play.

On the lab `make lab` brings up (or any inventory rayfleet deployed), each round runs, back to
back on the same hosts: `ansible-playbook playbooks/site.yml`, which must report changed=0, and
`ansible all -m setup`. Ratios are paired per round. The first round's task profile (the
slowest host of each task) says where the time goes.

    make lab && .venv/bin/python bench/site_noop.py --runs 3
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from pathlib import Path

from compare import TARGETS, ansible, changed_count, profile, timed
from figures import lab_arguments, summary, write_figures


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="rayfleet-site-noop-") as workdir:
        timings = Path(workdir) / "noop.jsonl"
        for number in range(1, args.runs + 1):
            # The first round's task timings: where the time goes.
            timed_by = timings if number == 1 else None
            noop_s, recap = timed(
                functools.partial(
                    ansible, ["ansible-playbook", "playbooks/site.yml"], args.inventory, timed_by
                )
            )
            if changed_count(recap):
                raise RuntimeError(f"site.yml changed something:\n{recap[-3000:]}")
            facts_s, _ = timed(
                lambda: ansible(["ansible", "all", "-m", "ansible.builtin.setup"], args.inventory)
            )
            rounds.append({"site_noop_s": noop_s, "facts_s": facts_s})
            print(f"round {number}: site.yml {noop_s:.1f} s, facts {facts_s:.1f} s", flush=True)
        slowest = profile(timings, top=25)
    ratios = [r["site_noop_s"] / r["facts_s"] for r in rounds]
    document = write_figures(
        args.out,
        "site_noop",
        {
            "site_noop_s": summary([r["site_noop_s"] for r in rounds]),
            "facts_s": summary([r["facts_s"] for r in rounds]),
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
