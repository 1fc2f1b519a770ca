"""What every benchmark reports of a series of runs, where it writes it, and the lab it runs on."""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def lab_arguments(doc: str) -> argparse.ArgumentParser:
    """A benchmark's options: the lab's inventory (-i) and where figures go (--out)."""
    parser = argparse.ArgumentParser(description=doc.split("\n", maxsplit=1)[0])
    parser.add_argument("-i", "--inventory", type=Path, default=REPO_ROOT / "inventories" / "lab")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    return parser


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
    }


def write_figures(out: Path, benchmark: str, figures: dict[str, Any]) -> dict[str, Any]:
    """``out/<benchmark>.json``: the figures, named and dated."""
    document = {
        "benchmark": benchmark,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **figures,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{benchmark}.json").write_text(json.dumps(document, indent=2) + "\n")
    return document
