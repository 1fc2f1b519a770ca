"""What every benchmark reports of a series of runs, and where it writes it."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
