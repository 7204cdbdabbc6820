"""The typer app. The only place that sets up logging handlers and turns errors into exit codes."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated, Any

import typer
import typer.main
from rich.table import Table
from typer.core import TyperGroup

from agentevo import __version__
from agentevo.cli.options import ApiBase, Json, Model, Temperature
from agentevo.console import err, out, print_json
from agentevo.errors import AgentevoError, ConfigError

# The commands defined in the other modules of this package: (module, attribute, a command or a group). A
# module is imported when its command runs, or when `--help` lists the commands; `agentevo memory list`
# imports the memory commands only.
COMMANDS = {
    "run": ("agentevo.cli.run", "run_command", "command"),
    "evolve": ("agentevo.cli.evolve", "evolve_command", "command"),
    "score": ("agentevo.cli.score", "score_command", "command"),
    "export": ("agentevo.cli.train", "export_command", "command"),
    "ui": ("agentevo.cli.ui", "ui_command", "command"),
}
GROUPS = {
    "runs": ("agentevo.cli.runs", "runs_app", "group"),
    "tools": ("agentevo.cli.tools", "tools_app", "group"),
    "sites": ("agentevo.cli.sites", "sites_app", "group"),
    "sandbox": ("agentevo.cli.sandbox", "sandbox_app", "group"),
    "memory": ("agentevo.cli.memory", "memory_app", "group"),
    "train": ("agentevo.cli.train", "train_app", "group"),
}


def load_command(name: str) -> Any:
    """The click command of one lazily imported command or group, converted by typer as add_typer would."""
    module, attribute, kind = (COMMANDS | GROUPS)[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    holder.callback()(lambda: None)  # a callback keeps typer from collapsing a lone command into the app
    if kind == "group":
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The root group: the commands of COMMANDS, then those defined here, then GROUPS, loaded on demand."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS and n not in GROUPS), *GROUPS]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS | GROUPS:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="agentevo",
    help="LLM agents that improve themselves from their own experience.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


def version_callback(value: bool) -> None:
    if value:
        print(f"agentevo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug.")] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from rich.logging import RichHandler

    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("httpx", "LiteLLM", "litellm", "chromadb", "urllib3", "docker", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


@app.command()
def doctor(json_mode: Json = False) -> None:
    """Check the embedded model, embedder, Chromium, Docker and bubblewrap; say how to fix what is missing."""
    from agentevo.doctor import as_json, run_checks

    checks = run_checks()
    if json_mode:
        print_json(as_json(checks))
    else:
        table = Table("part", "status", "detail", "fix")
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]missing[/]", c.detail, c.fix)
        out.print(table)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)


@app.command()
def chat(
    text: Annotated[str, typer.Argument(help="What to say to the model.")],
    model: Model = "local/smollm2",
    api_base: ApiBase = None,
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Most tokens in the reply.")] = 256,
    temperature: Temperature = 0.0,
    json_mode: Json = False,
) -> None:
    """Send one message to a model and print its reply."""
    from agentevo.config import ModelConfig
    from agentevo.models import load_model

    m = load_model(ModelConfig(name=model, api_base=api_base, max_tokens=max_tokens, temperature=temperature))
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    reply = m.complete(messages)
    if json_mode:
        print_json(reply.model_dump())
    else:
        print(reply.text.strip())


@app.command()
def suites(json_mode: Json = False) -> None:
    """List the task suites with their task counts per split."""
    from agentevo.benchmarks import load_all

    rows = []
    for suite in load_all().values():
        try:
            tasks = suite.tasks("all")
            counts = {split: sum(t.split == split for t in tasks) for split in suite.splits}
            note = ""
        except AgentevoError as exc:
            counts, note = {}, str(exc)
        rows.append(
            {
                "name": suite.name,
                "kind": suite.kind,
                "description": suite.description,
                "tasks": sum(counts.values()),
                "splits": counts,
                "note": note,
            }
        )
    if json_mode:
        return print_json(rows)
    table = Table("suite", "kind", "tasks", "splits", "description")
    for r in rows:
        splits = " ".join(f"{k}:{v}" for k, v in r["splits"].items()) or r["note"]
        table.add_row(r["name"], r["kind"], str(r["tasks"]), splits, r["description"])
    out.print(table)


def exit_code(exc: AgentevoError) -> int:
    return 2 if isinstance(exc, ConfigError) else 1


def main() -> None:
    try:
        app()
    except AgentevoError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
