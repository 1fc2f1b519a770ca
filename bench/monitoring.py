"""What monitoring costs and how fast it follows the cluster (issue 5's benchmark).

On the `make lab` cluster, on the machine's one monotonic clock:

  discovery_s     from a pool host's node ALIVE in Ray to Prometheus scraping both its Ray
                  metrics and its node_exporter (up == 1), with no playbook run between
  removal_s       from the node gone from Ray (returned to the pool) to both targets gone
                  from Prometheus's active targets
  health_s        one `rayfleet health` (playbooks/health.yml through ansible-runner)
  monitoring_s    one run of playbooks/monitoring.yml on the deployed lab (changes nothing)

and, read from Prometheus itself: its memory and series, samples and scrape time per job,
node_exporter's and the Redis exporter's memory.

    make lab && .venv/bin/python bench/monitoring.py -i inventories/lab
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

from autoscaler_latency import PROBE, PROBE_ON_HEAD, Lab, wait_until
from figures import lab_arguments, summary, write_figures

from rayfleet.runner import health, run_module, run_playbook

PROMETHEUS_PORT = 9090
# PromQL of the figures Prometheus reports about itself and its targets.
RESOURCE_QUERIES = {
    "prometheus_rss_mb": 'process_resident_memory_bytes{job="prometheus"} / 2^20',
    "prometheus_series": "prometheus_tsdb_head_series",
    "samples_per_s": "sum(rate(prometheus_tsdb_head_samples_appended_total[5m]))",
    "node_exporter_rss_mb": 'max(process_resident_memory_bytes{job="node"}) / 2^20',
    "redis_exporter_rss_mb": 'max(process_resident_memory_bytes{job="redis"}) / 2^20',
    "samples_per_scrape": "avg by (job) (scrape_samples_scraped)",
    "scrape_duration_ms": "avg by (job) (scrape_duration_seconds) * 1000",
}


class Prometheus:
    def __init__(self, address: str) -> None:
        self.url = f"http://{address}:{PROMETHEUS_PORT}"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.load(response)["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query?query=" + urllib.parse.quote(expression)
        )["result"]
        return result

    def jobs_up(self, host: str) -> set[str]:
        return {series["metric"]["job"] for series in self.query(f'up{{host="{host}"}} == 1')}

    def active_jobs(self, host: str) -> set[str]:
        targets = self._get("/api/v1/targets?state=active")["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["labels"].get("host") == host}


def one_discovery(lab: Lab, prometheus: Prometheus, host: str) -> dict[str, float]:
    resource = next(iter(lab.hostvars[host].get("ray_resources", {})))
    ip = lab.address[host]
    lab.request(resource, 1)
    alive = wait_until(lambda: ip in lab.alive_ips(), 600)
    scraped = wait_until(lambda: {"ray", "node"} <= prometheus.jobs_up(host), 120)
    lab.request(resource, 0)
    gone = wait_until(lambda: ip not in lab.alive_ips(), lab.idle_timeout_s + 300)
    dropped = wait_until(lambda: not prometheus.active_jobs(host), 120)
    return {"discovery_s": round(scraped - alive, 3), "removal_s": round(dropped - gone, 3)}


def timed(action: Any) -> float:
    start = time.monotonic()
    action()
    return round(time.monotonic() - start, 3)


def resources(prometheus: Prometheus) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, expression in RESOURCE_QUERIES.items():
        series = prometheus.query(expression)
        if any("job" in item["metric"] for item in series):
            figures[name] = {
                item["metric"]["job"]: round(float(item["value"][1]), 1) for item in series
            }
        else:
            figures[name] = round(float(series[0]["value"][1]), 1)
    return figures


def main() -> int:
    parser = lab_arguments(__doc__)
    parser.add_argument("--pool-type", default="pool_warm")
    parser.add_argument("--discovery-runs", type=int, default=3)
    parser.add_argument("--health-runs", type=int, default=5)
    args = parser.parse_args()

    lab = Lab(args.inventory)
    prometheus = Prometheus(lab.address[lab.head])
    run_module(
        "ansible.builtin.copy", f"src={PROBE} dest={PROBE_ON_HEAD}", args.inventory, lab.head
    )
    host = lab.pool_types[args.pool_type][0]
    runs = [one_discovery(lab, prometheus, host) for _ in range(args.discovery_runs)]
    for number, run in enumerate(runs, start=1):
        print(f"discovery run {number}: {json.dumps(run)}", flush=True)
    health_s = [timed(lambda: health(args.inventory)) for _ in range(args.health_runs)]
    monitoring_s = timed(lambda: run_playbook("monitoring.yml", args.inventory, quiet=True))
    figures = write_figures(
        args.out,
        "monitoring",
        {
            "inventory": str(args.inventory),
            "pool_host": host,
            "discovery_runs": runs,
            "discovery_s": summary([run["discovery_s"] for run in runs]),
            "removal_s": summary([run["removal_s"] for run in runs]),
            "health_s": summary(health_s),
            "monitoring_playbook_s": monitoring_s,
            "resources": resources(prometheus),
        },
    )
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
