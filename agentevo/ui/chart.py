"""The learning curve as SVG geometry: one line and confidence band per series, one focusable point per
evaluation carrying its figures (shown on hover by static/app.js) and a link to its evaluation run.

Series are the points' condition plus whichever of SERIES_KEYS they carry (a validation or test split,
one of several independent training runs), so a summary that gains such fields draws more lines, not
wrong ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 40
SERIES_KEYS = ("split", "run", "replicate", "training_run", "train_run", "run_index", "repeat", "seed")
COLOURS = {"none": "#7f7f7f", "memory": "#1f77b4", "tools": "#ff7f0e", "memory+tools": "#2ca02c"}
SPARE = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass
class ChartPoint:
    x: float
    y: float
    lo: float
    hi: float
    accepted: bool
    tip: str
    href: str


@dataclass
class Series:
    label: str
    colour: str
    dash: str
    points: list[ChartPoint] = field(default_factory=list)

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(self.points))

    @property
    def band(self) -> str:
        upper = [f"{p.x:.1f},{p.hi:.1f}" for p in self.points]
        lower = [f"{p.x:.1f},{p.lo:.1f}" for p in reversed(self.points)]
        return " ".join(upper + lower)


@dataclass
class Chart:
    series: list[Series]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def rate_of(p: dict[str, Any]) -> float | None:
    for key in ("rate", "success_rate"):
        if isinstance(p.get(key), int | float):
            return float(p[key])
    n, won = p.get("n"), p.get("successes")
    if isinstance(n, int | float) and isinstance(won, int | float) and n:
        return float(won) / float(n)
    return None


def series_label(p: dict[str, Any]) -> str:
    extra = [f"{k} {p[k]}" for k in SERIES_KEYS if p.get(k) not in (None, "")]
    return " · ".join([str(p.get("condition", "?")), *extra])


def tip_of(p: dict[str, Any], rate: float) -> str:
    lines = [series_label(p), f"after {p.get('episodes')} training episodes"]
    won, n = p.get("successes"), p.get("n")
    split = p.get("split") or "held-out"
    lines.append(f"{split} {100 * rate:.1f}%" + (f" ({won}/{n})" if won is not None and n else ""))
    ci = p.get("ci95")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lines.append(f"95% CI {100 * float(ci[0]):.1f}–{100 * float(ci[1]):.1f}%")
    if p.get("tokens"):
        lines.append(f"tokens {p['tokens']:,}")
    if p.get("accepted") is False:
        lines.append(f"gate: rolled back {p.get('note', '')}".rstrip())
    if p.get("run_id"):
        lines.append(f"run {p['run_id']} (click to open)")
    return "\n".join(lines)


def build(points: list[dict[str, Any]]) -> Chart | None:
    usable = [
        (p, r) for p in points if isinstance(p.get("episodes"), int | float) and (r := rate_of(p)) is not None
    ]
    if not usable:
        return None
    xs = [float(p["episodes"]) for p, _ in usable]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (WIDTH - RIGHT - LEFT)

    def sy(rate: float) -> float:
        return TOP + (1 - max(0.0, min(1.0, rate))) * (HEIGHT - BOTTOM - TOP)

    groups: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for p, r in usable:
        groups.setdefault(series_label(p), []).append((p, r))
    series, spare, dashes = [], iter(SPARE * 4), {}
    for label, members in groups.items():
        condition = str(members[0][0].get("condition", ""))
        colour = COLOURS.get(condition) or next(spare)
        split = str(members[0][0].get("split", ""))
        dash = dashes.setdefault(split, DASHES[len(dashes) % len(DASHES)])
        s = Series(label, colour, dash)
        for p, r in sorted(members, key=lambda m: float(m[0]["episodes"])):
            ci = p.get("ci95")
            lo, hi = (float(ci[0]), float(ci[1])) if isinstance(ci, list | tuple) and len(ci) == 2 else (r, r)
            href = f"/runs/{p['run_id']}" if p.get("run_id") else ""
            s.points.append(
                ChartPoint(
                    sx(float(p["episodes"])),
                    sy(r),
                    sy(lo),
                    sy(hi),
                    p.get("accepted") is not False,
                    tip_of(p, r),
                    href,
                )
            )
        series.append(s)
    step = nice_step(x1 - x0)
    first = int(x0 // step + (x0 % step > 0)) * step
    x_ticks = [(sx(v), f"{v:g}") for v in frange(first, x1, step)]
    y_ticks = [(sy(v / 100), f"{v}%") for v in range(0, 101, 20)]
    return Chart(series, x_ticks, y_ticks)


def nice_step(span: float) -> float:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if span / step <= 10:
            return float(step)
    return span / 10


def frange(start: float, stop: float, step: float) -> list[float]:
    out, v = [], start
    while v <= stop + 1e-9 and len(out) < 50:
        out.append(v)
        v += step
    return out
