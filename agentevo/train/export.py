"""The exporter: stored trajectories become training files in one of four formats, split without leakage,
with a data card beside them.

    out.jsonl --split-by template  →  out.train.jsonl, out.test.jsonl, out.card.json, out.card.md
    out.jsonl --split-by none      →  out.jsonl, out.card.json, out.card.md

Every file is written to a temporary name and renamed into place only when all of them are complete, so a
failed export leaves earlier files untouched and nothing truncated.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentevo import __version__
from agentevo.errors import ExportError
from agentevo.records import Trajectory, utcnow
from agentevo.train.card import CARD_FORMAT, card_paths, markdown
from agentevo.train.conversation import Conversation, Malformed, MemoryMode, from_trajectory
from agentevo.train.formats import SFT_ROWS, Format
from agentevo.train.pairs import Pair, PairBy, make_pairs
from agentevo.train.split import Split, SplitBy, split_groups
from agentevo.train.validate import InvalidRow, validate_row

Filter = Literal["success", "all", "failure"]
KEEP = {"success": {"success"}, "failure": {"failure", "limit"}, "all": {"success", "failure", "limit"}}


@dataclass(frozen=True)
class ExportSettings:
    format: Format = "openai"
    filter: Filter = "success"
    """Which outcomes become SFT examples (`failure` includes episodes that hit a limit); DPO needs both."""
    split_by: SplitBy = "template"
    test_fraction: float = 0.2
    with_memory: MemoryMode = "inline"
    """`strip` removes recalled demonstration turns and notes: the prompt as it was without memory."""
    pair_by: PairBy = "task"


@dataclass
class ExportResult:
    files: dict[str, Path]
    card: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def output_paths(out: Path, split_by: SplitBy) -> dict[str, Path]:
    base = out.name.removesuffix(".jsonl")
    card_json, card_md = card_paths(out)
    if split_by == "none":
        files = {"train": out}
    else:
        files = {"train": out.with_name(base + ".train.jsonl"), "test": out.with_name(base + ".test.jsonl")}
    return {**files, "card_json": card_json, "card_md": card_md}


def export_trajectories(
    trajectories: Iterable[Trajectory],
    out: Path,
    settings: ExportSettings,
    sources: dict[str, Any] | None = None,
) -> ExportResult:
    convs, counts = conversations(trajectories, settings)
    if settings.format == "dpo":
        split, rows = split_pairs(convs, settings)
    else:
        split = split_groups(convs, group_key(settings), settings.split_by, settings.test_fraction)
        to_row = SFT_ROWS[settings.format]
        rows = {"train": [to_row(c) for c in split.train], "test": [to_row(c) for c in split.test]}
    for side_rows in rows.values():
        checked(side_rows, settings.format)
    paths = output_paths(out, settings.split_by)
    card = build_card(settings, split, counts, convs, paths, sources or {})
    contents = {paths[side]: jsonl(rows[side]) for side in ("train", "test") if side in paths}
    contents[paths["card_json"]] = json.dumps(card, indent=2, default=str) + "\n"
    contents[paths["card_md"]] = markdown(card)
    write_atomic(contents)
    return ExportResult(files=paths, card=card, warnings=card["warnings"])


def checked(rows: list[dict[str, Any]], format: str) -> None:
    """A row its readers would reject is a bug here: fail before anything is written."""
    for row in rows:
        try:
            validate_row(row, format)
        except InvalidRow as exc:
            raise ExportError(f"internal error: a {format} row breaks the format ({exc})") from None


def conversations(
    trajectories: Iterable[Trajectory], settings: ExportSettings
) -> tuple[list[Conversation], dict[str, Any]]:
    keep = {"success", "failure", "limit"} if settings.format == "dpo" else KEEP[settings.filter]
    by_outcome: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    convs = []
    for traj in trajectories:
        by_outcome[traj.outcome] += 1
        if traj.outcome not in keep:
            left_out["error episodes" if traj.outcome == "error" else f"filtered ({traj.outcome})"] += 1
            continue
        try:
            conv = from_trajectory(traj, settings.with_memory)
        except Malformed:
            left_out["malformed"] += 1
            continue
        if settings.format != "dpo" and not any(t.trainable for t in conv.turns):
            left_out["no usable reply"] += 1  # every reply was unparsable or errored: nothing to learn
            continue
        convs.append(conv)
    counts = {"read": sum(by_outcome.values()), "by_outcome": dict(by_outcome), "left_out": dict(left_out)}
    if not convs:
        raise ExportError(
            f"nothing to export: {counts['read']} trajectories read "
            f"({', '.join(f'{k} {v}' for k, v in sorted(by_outcome.items())) or 'none'}), "
            f"none kept by --filter {settings.filter if settings.format != 'dpo' else '(dpo)'}"
        )
    return convs, counts


def group_key(settings: ExportSettings) -> Any:
    return (lambda c: c.task_id) if settings.split_by == "task" else (lambda c: c.group)


def split_pairs(convs: Sequence[Conversation], settings: ExportSettings) -> tuple[Split[Any], dict[str, Any]]:
    if settings.pair_by == "template" and settings.split_by == "task":
        raise ExportError(
            "pairs across the tasks of a template cannot be split by task: use --split-by template"
        )
    pairs = make_pairs(convs, settings.pair_by)
    if not pairs:
        wins = sum(c.succeeded for c in convs)
        raise ExportError(
            f"no {settings.pair_by} has both a success and a failure ({wins} successes, "
            f"{len(convs) - wins} failures): no preference pairs to export"
        )
    key = group_key(settings)
    split = split_groups(pairs, lambda p: key(p.chosen), settings.split_by, settings.test_fraction)
    return split, {"train": [p.row for p in split.train], "test": [p.row for p in split.test]}


def build_card(
    settings: ExportSettings,
    split: Split[Any],
    counts: dict[str, Any],
    convs: Sequence[Conversation],
    paths: dict[str, Path],
    sources: dict[str, Any],
) -> dict[str, Any]:
    used = [c for item in split.train + split.test for c in members(item)]
    counts = {
        **counts,
        "train": len(split.train),
        "test": len(split.test),
        "conversations": len(convs),
        "assistant_turns": sum(len(c.turns) for c in used),
        "tool_calls": sum(t.tool_call is not None for c in used for t in c.turns),
        "with_recalled_experience": sum(c.recalled for c in used),
        "without_prompt_layout": sum(not c.layout_known for c in used),
    }
    if settings.format == "dpo":
        counts["pairs_with_shared_prompt"] = sum(p.shared_prompt for p in split.train + split.test)
    return {
        "card_format": CARD_FORMAT,
        "format": settings.format,
        "created_at": utcnow().isoformat(),
        "agentevo_version": __version__,
        "model": sorted({c.model for c in used}),  # the models whose replies are the targets
        "sources": {
            "store": sources.get("store", ""),
            "runs": sorted({c.run_id for c in used}),
            "suites": sorted({c.suite for c in used}),
            "models": dict(Counter(c.model for c in used)),
            "requested": {k: v for k, v in sources.items() if k != "store"},
        },
        "selection": {
            "filter": settings.filter if settings.format != "dpo" else "success+failure",
            "with_memory": settings.with_memory,
            "pair_by": settings.pair_by,
        },
        "counts": counts,
        "split": {
            "by": settings.split_by,
            "test_fraction": settings.test_fraction if settings.split_by != "none" else 0.0,
            "train_groups": split.train_groups,
            "test_groups": split.test_groups,
            "overlap": split.overlap(),
        },
        "trajectory_ids": {
            "train": [c.trajectory_id for item in split.train for c in members(item)],
            "test": [c.trajectory_id for item in split.test for c in members(item)],
        },
        "files": {k: str(v) for k, v in paths.items() if k in ("train", "test")},
        "warnings": warnings(settings, split, counts),
    }


def members(item: Conversation | Pair) -> list[Conversation]:
    return [item.chosen, item.rejected] if isinstance(item, Pair) else [item]


def warnings(settings: ExportSettings, split: Split[Any], counts: dict[str, Any]) -> list[str]:
    out = []
    if settings.split_by != "none" and not split.test:
        out.append(f"the test split is empty: no {settings.split_by} fell under --test-fraction")
    if not split.train:
        out.append("the train split is empty")
    if settings.with_memory == "strip" and counts["without_prompt_layout"]:
        out.append(f"{counts['without_prompt_layout']} trajectories have no prompt layout: kept as seen")
    if settings.format == "dpo":
        crossed = counts["train"] + counts["test"] - counts["pairs_with_shared_prompt"]
        if crossed:
            out.append(f"{crossed} pairs had different prompts; they use the chosen conversation's prompt")
    return out


def jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_atomic(contents: dict[Path, str]) -> None:
    """Write every file beside its final name, then rename them all; on failure remove the temporaries."""
    temps: dict[Path, Path] = {}
    blocked = [p for p in contents if p.is_dir()]
    if blocked:
        raise ExportError(f"cannot write {blocked[0]}: it is a folder")
    try:
        for path, text in contents.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            temps[path] = tmp
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"cannot write {exc.filename or 'the export'}: {exc.strerror or exc}") from None
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


class JsonlExporter:
    """An exporter object over `export_trajectories`: returns the training file it wrote."""

    def __init__(self, settings: ExportSettings | None = None) -> None:
        self.settings = settings or ExportSettings()

    def export(self, trajectories: Iterable[Trajectory], out: Path, *, format: str = "openai") -> Path:
        settings = dataclasses.replace(self.settings, format=format)  # type: ignore[arg-type]
        return export_trajectories(trajectories, out, settings).files["train"]


def export_from_store(
    store: Any,
    out: Path,
    settings: ExportSettings,
    *,
    runs: Sequence[str] = (),
    suite: str | None = None,
) -> ExportResult:
    from agentevo.runs.store import safe_url

    missing = [r for r in runs if store.get_run(r) is None]
    if missing:
        raise ExportError(f"no run {missing[0]!r} in {safe_url(store.url)}")
    sources = {"store": safe_url(store.url), "runs": list(runs), "suite": suite}
    return export_trajectories(store.trajectories(runs, suite), out, settings, sources)
