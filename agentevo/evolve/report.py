"""Pictures of a learning run: the learning-curve PNG (matplotlib) and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
COLOURS = {"none": "#7f7f7f", "memory": "#1f77b4", "tools": "#ff7f0e", "memory+tools": "#2ca02c"}
# conditions that learned the same thing draw the same line: dashes and markers keep each one visible
STYLES = {"none": ("--", "s"), "memory": ("-", "o"), "tools": ("-.", "^"), "memory+tools": (":", "D")}


@dataclass
class CurvePoint:
    """One held-out evaluation of one training run of a condition after `episodes` training episodes (for
    `none`, which does not train, the episodes the learning conditions had trained on by that round), on
    the validation split (what the gate reads) or the test split (what the curve and the table report).

    `tokens` is what this evaluation cost; `practice_tokens` (model tokens) and `practice_seconds` (wall
    seconds) are what the training run's practice had cost when it was taken, cumulative: its training
    episodes (searches and relabelling replays included) and, for lora, distillation, whose share of the
    seconds is `distil_seconds`. `none` practises nothing: 0."""

    condition: str
    episodes: int
    successes: int
    n: int
    ci95: tuple[float, float]
    tokens: int = 0
    steps_per_solved: float | None = None
    run_id: str = ""
    accepted: bool = True
    note: str = ""
    split: str = "test"
    run: int = 1
    round: int = 0
    judged: int | None = None  # successes as the judge saw them (label-free runs)
    practice_tokens: int = 0
    practice_seconds: float = 0.0  # includes distil_seconds
    distil_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


@dataclass
class ReportData:
    title: str
    points: list[CurvePoint]
    ablations: list[dict[str, Any]] = field(default_factory=list)
    learned: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # condition -> items and tools
    rejected: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] | None = None


def by_condition(points: Sequence[CurvePoint]) -> dict[str, list[CurvePoint]]:
    grouped: dict[str, list[CurvePoint]] = defaultdict(list)
    for p in points:
        grouped[p.condition].append(p)
    return {k: sorted(v, key=lambda p: (p.episodes, p.run, p.split)) for k, v in grouped.items()}


def pooled(points: Sequence[CurvePoint], split: str = "test") -> list[CurvePoint]:
    """One point per condition and round on one split: the training runs' evaluations pooled (successes
    and episodes added up), rolled back when any run's gate rolled that round back. Its practice cost
    (`practice_tokens`, `practice_seconds`, `distil_seconds`) is the sum over the training runs: what all
    of them together had spent practising by that round."""
    from agentevo.runs.summary import wilson

    groups: dict[tuple[str, int], list[CurvePoint]] = defaultdict(list)
    for p in points:
        if p.split == split:
            groups[(p.condition, p.round)].append(p)
    out = []
    for (condition, round_), pts in groups.items():
        successes, n = sum(p.successes for p in pts), sum(p.n for p in pts)
        rejected = sum(not p.accepted for p in pts)
        out.append(
            CurvePoint(
                condition=condition,
                episodes=max(p.episodes for p in pts),
                successes=successes,
                n=n,
                ci95=wilson(successes, n),
                accepted=rejected == 0,
                note=f"rolled back in {rejected} of {len(pts)} runs" if rejected else "",
                split=split,
                round=round_,
                practice_tokens=sum(p.practice_tokens for p in pts),
                practice_seconds=sum(p.practice_seconds for p in pts),
                distil_seconds=sum(p.distil_seconds for p in pts),
            )
        )
    return out


def plot_curve(points: Sequence[CurvePoint], out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for condition, pts in by_condition(pooled(points, "test")).items():
        xs = [p.episodes for p in pts]
        colour = COLOURS.get(condition)
        line, marker = STYLES.get(condition, ("-", "o"))
        ax.plot(xs, [100 * p.rate for p in pts], linestyle=line, marker=marker, label=condition, color=colour)
        ax.fill_between(
            xs, [100 * p.ci95[0] for p in pts], [100 * p.ci95[1] for p in pts], alpha=0.15, color=colour
        )
        rejected = [p for p in pts if not p.accepted]
        if rejected:
            ax.scatter(
                [p.episodes for p in rejected],
                [100 * p.rate for p in rejected],
                marker="x",
                s=60,
                color="red",
                zorder=5,
                label=f"{condition}: rolled back",
            )
    ax.set_xlabel("training episodes")
    ax.set_ylabel("test-split success (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def write_html(data: ReportData, png: Path, out: Path) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    image = base64.b64encode(png.read_bytes()).decode()
    page = env.get_template("report.html").render(
        data=data, image=image, curves=by_condition(data.points), escape=html.escape
    )
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out


def write_report(data: ReportData, folder: Path) -> tuple[Path, Path]:
    png = plot_curve(data.points, folder / "learning_curve.png", data.title)
    page = write_html(data, png, folder / "report.html")
    return png, page
