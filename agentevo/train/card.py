"""The data card written beside every export: where the data came from, what was kept and why, how it was
split, which templates are on which side. JSON for programs (the trainer and `train eval` read it to keep
held-out templates held out), Markdown for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_FORMAT = "agentevo-data-card/1"


def card_paths(data_file: Path) -> tuple[Path, Path]:
    """The card beside an export: `out.jsonl`, `out.train.jsonl`, `out.test.jsonl` share `out.card.json`."""
    stem = data_file.name
    for suffix in (".train.jsonl", ".test.jsonl", ".jsonl"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return data_file.with_name(stem + ".card.json"), data_file.with_name(stem + ".card.md")


def read_card(data_file: Path) -> dict[str, Any] | None:
    path = card_paths(data_file)[0]
    if not path.exists():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return card if isinstance(card, dict) and card.get("card_format") == CARD_FORMAT else None


def markdown(card: dict[str, Any]) -> str:
    counts, split, sel = card["counts"], card["split"], card["selection"]
    lines = [
        f"# Data card: {Path(card['files']['train']).name}",
        "",
        f"Exported {card['created_at']} by agentevo {card['agentevo_version']} as **{card['format']}**.",
        "",
        "## Sources",
        f"- store: `{card['sources']['store']}`",
        f"- runs: {', '.join(f'`{r}`' for r in card['sources']['runs']) or '-'}",
        f"- suites: {', '.join(card['sources']['suites']) or '-'}",
        "- models: " + (", ".join(f"`{m}` ({n})" for m, n in card["sources"]["models"].items()) or "-"),
        "",
        "## Selection",
        f"- filter: {sel['filter']} · with memory: {sel['with_memory']}"
        + (f" · pairs by: {sel['pair_by']}" if card["format"] == "dpo" else ""),
        f"- trajectories read: {counts['read']} (" + outcome_text(counts["by_outcome"]) + ")",
        "- left out: " + (", ".join(f"{k} {v}" for k, v in counts["left_out"].items() if v) or "none"),
        f"- examples: train {counts['train']}, test {counts['test']}",
        f"- assistant turns: {counts['assistant_turns']} (tool calls {counts['tool_calls']}); "
        f"examples with recalled experience inline: {counts['with_recalled_experience']}",
        "",
        "## Split",
        f"- by {split['by']}, test fraction {split['test_fraction']}; overlap: "
        + (", ".join(split["overlap"]) or "none"),
        f"- train ({len(split['train_groups'])}): " + group_text(split["train_groups"]),
        f"- test ({len(split['test_groups'])}): " + group_text(split["test_groups"]),
    ]
    if card["warnings"]:
        lines += ["", "## Warnings", *[f"- {w}" for w in card["warnings"]]]
    lines += ["", "## Files", *[f"- {k}: `{Path(v).name}`" for k, v in card["files"].items()], ""]
    return "\n".join(lines)


def outcome_text(by_outcome: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_outcome.items())) or "none"


def group_text(groups: list[str], most: int = 40) -> str:
    shown = ", ".join(f"`{g}`" for g in groups[:most])
    return shown + (f" … and {len(groups) - most} more" if len(groups) > most else "") if groups else "-"
