"""`agentevo score`: score a final state (an answer and a page) against one task config, with no agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentevo.cli.options import Json


def score_command(
    config: Annotated[Path, typer.Option("--config", help="A WebArena-format task config (JSON).")],
    answer: Annotated[str, typer.Option(help="The agent's final answer (what `stop [...]` carried).")] = "",
    url: Annotated[
        str | None, typer.Option(help="The final page; opened in the browser for url_match and program_html.")
    ] = None,
    task_id: Annotated[str | None, typer.Option(help="Which task, when the file holds several.")] = None,
    flavour: Annotated[
        str, typer.Option(help="Evaluator rules: webarena, vab-lite, browsergym-lite.")
    ] = "webarena",
    judge: Annotated[str | None, typer.Option(help="Model string of the fuzzy_match judge.")] = None,
    storage_state_dir: Annotated[
        str | None, typer.Option(help="Folder of <site>_state.json login files for the page.")
    ] = None,
    json_mode: Json = False,
) -> None:
    """Score an answer and a page against a task config, exactly as a run would."""
    from agentevo.benchmarks.webarena.score import score_config
    from agentevo.console import out, print_json

    result = score_config(
        config,
        answer=answer,
        url=url,
        task_id=task_id,
        flavour=flavour,
        judge=judge,
        state_dir=storage_state_dir,
    )
    if json_mode:
        print_json(result)
    else:
        out.print(
            f"task {result['task_id']}: reward {result['reward']:g} "
            f"({result['flavour']}, judge {result['judge']})"
        )
        for eval_type in result["eval_types"]:
            part = result["details"].get(eval_type, {})
            out.print(
                f"  {eval_type}: {part.get('reward', 0):g}  {part.get('error', '')}".rstrip(), highlight=False
            )
    if any("error" in result["details"].get(t, {}) for t in result["eval_types"]):
        raise typer.Exit(1)
