"""Percentiles, tables and process memory for the benchmark's printout."""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path

from scripts.bench.clients import Sample

KINDS = ("small_talk", "faq", "emergency")


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def latency_rows(samples: Iterable[Sample], split_faq: bool = True) -> list[tuple[str, list[float], int]]:
    """(label, latencies of answered messages, errors) per message type; FAQ also by new/repeated text."""
    samples = list(samples)
    rows = []
    groups: list[tuple[str, list[Sample]]] = [(k, [s for s in samples if s.kind == k]) for k in KINDS]
    if split_faq:
        faq = [s for s in samples if s.kind == "faq"]
        groups.insert(2, ("  faq, new text", [s for s in faq if not s.repeat]))
        groups.insert(3, ("  faq, repeated", [s for s in faq if s.repeat]))
    for label, group in groups:
        rows.append((label, [s.ms for s in group if s.ok], sum(1 for s in group if not s.ok)))
    return rows


def print_latency(title: str, samples: Sequence[Sample], wall: float) -> None:
    print(f"\n{title}")
    print(f"  {'message type':<18}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'errors':>8}")
    for label, ms, errors in latency_rows(samples):
        if not ms and not errors:
            continue
        mean = statistics.mean(ms) if ms else 0.0
        print(f"  {label:<18}{len(ms):>6}{pct(ms, 50):>9.1f}{pct(ms, 95):>9.1f}{pct(ms, 99):>9.1f}{mean:>9.1f}"
              f"{errors:>8}")
    errors = sum(1 for s in samples if not s.ok)
    print(f"  throughput {len(samples) / wall:.1f} msg/s over {wall:.1f} s ({len(samples)} messages), "
          f"errors {errors}")


def _tree(pid: int) -> Iterator[Path]:
    """The /proc folders of a process and all its descendants (those that exist while walked)."""
    todo, seen = [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        folder = Path(f"/proc/{current}")
        try:
            for task in (folder / "task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
        yield folder


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, in MB (Linux /proc)."""
    total = 0
    for folder in _tree(pid):
        with suppress(OSError, StopIteration):
            status = (folder / "status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return total / 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants, in seconds (Linux /proc)."""
    total = 0
    for folder in _tree(pid):
        with suppress(OSError, IndexError):
            fields = (folder / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def named_cpu_seconds(comm: str) -> float:
    """CPU of every process called ``comm`` (a server started outside the stack, e.g. postgres), with
    the CPU of the children it has reaped (PostgreSQL's finished connection processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition("(")[2].rpartition(")")
        if name != comm:
            continue
        fields = rest.split()
        total += sum(int(f) for f in fields[11:15])
    return total / tick


def client_cpu_seconds() -> float:
    """CPU used by this benchmark process itself (its simulated users share the machine's cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_cpu(before: dict[str, float], after: dict[str, float], messages: int, wall: float) -> None:
    """CPU per message of each process during a phase: where the machine's two cores go."""
    print(f"  CPU during this phase (cores busy = CPU s / {wall:.0f} s wall):")
    for name in after:
        used = after[name] - before.get(name, 0.0)
        print(f"    {name:<12}{used:>7.1f} s CPU  {1000 * used / max(messages, 1):>7.1f} ms/message  "
              f"{used / wall:>5.2f} cores")


def print_rss(title: str, rss: dict[str, float]) -> None:
    print(f"\n{title}")
    for name, mb in rss.items():
        print(f"  {name:<12}{mb:>8.0f} MB")
    print(f"  {'total':<12}{sum(rss.values()):>8.0f} MB")
