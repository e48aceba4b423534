"""Geometry of the supervisor's tickets-per-day chart: stacked bars by channel, drawn as inline SVG."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 32
PAD_BOTTOM = 28
PAD_TOP = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    channel: str
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    ticks: list[tuple[float, int]]
    legend: list[tuple[str, str]]
    baseline: float
    total: int


def day_chart(per_day: list[tuple[dt.date, dict[str, int]]], unit: str = "ca qua") -> Chart:
    """Bars per day (oldest left), one stacked segment per channel (or series), with a y scale and a legend."""
    channels = sorted({c for _, counts in per_day for c in counts})
    css = {c: f"ch{i % 6}" for i, c in enumerate(channels)}
    top = max([sum(counts.values()) for _, counts in per_day] + [1])
    scale_max = max(top, 4)
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    baseline = float(HEIGHT - PAD_BOTTOM)
    slot = (WIDTH - PAD_LEFT) / max(1, len(per_day))
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for i, (day, counts) in enumerate(per_day):
        x = PAD_LEFT + i * slot + slot * 0.15
        y = baseline
        for channel in channels:
            n = counts.get(channel, 0)
            if not n:
                continue
            h = plot_h * n / scale_max
            y -= h
            bars.append(Bar(round(x, 1), round(y, 1), round(slot * 0.7, 1), round(h, 1), channel, css[channel],
                            f"{day.strftime('%d/%m')}: {n} {unit} {channel}"))
        if len(per_day) <= 16 or i % 2 == 0:
            labels.append((round(x + slot * 0.35, 1), day.strftime("%d/%m")))
    ticks = [(round(baseline - plot_h * v / scale_max, 1), v) for v in sorted({0, scale_max // 2, scale_max})]
    total = sum(sum(c.values()) for _, c in per_day)
    return Chart(WIDTH, HEIGHT, bars, labels, ticks, [(c, css[c]) for c in channels], baseline, total)
