"""Shared benchmark plumbing: timing stats, process memory from /proc, table printing and JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "cpu_by_kind",
    "cpu_delta",
    "descendants",
    "print_summary",
    "print_table",
    "pss_kib",
    "stats_ms",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def stats_ms(samples: Iterable[float]) -> dict[str, float]:
    """p50/p90/min/max of samples given in seconds, reported in milliseconds."""
    xs = sorted(s * 1000 for s in samples)
    if not xs:
        return {"n": 0}

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]

    return {
        "n": len(xs),
        "p50": round(statistics.median(xs), 2),
        "p90": round(pct(0.9), 2),
        "min": round(xs[0], 2),
        "max": round(xs[-1], 2),
    }


def descendants(pid: int) -> list[int]:
    """All live descendant pids of `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def cpu_by_kind(pids: Iterable[int]) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) each live pid has used so far, with its kind: "browser" for Chromium's
    processes, "driver" for Playwright's node driver, "python" for the rest (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")].lower()
        fields = stat.rsplit(")", 1)[1].split()
        kind = "browser" if "chrom" in name else "driver" if name.startswith("node") else "python"
        out[pid] = (kind, (int(fields[11]) + int(fields[12])) / tick)
    return out


def cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds used per kind between two `cpu_by_kind` readings (processes gone meanwhile are not counted)."""
    used: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        used[kind] = used.get(kind, 0.0) + seconds - before.get(pid, (kind, 0.0))[1]
    return used


def pss_kib(pids: Iterable[int]) -> int:
    """Proportional set size summed over pids: shared pages counted once across the processes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def print_summary(summary: dict[str, Any]) -> None:
    print("\n## Summary")
    for key, value in summary.items():
        print(f"{key}: {value}")


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    print(f"\n## {title}")
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        **data,
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"\nwrote {path}")
    return path
