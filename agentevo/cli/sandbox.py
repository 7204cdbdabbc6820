"""`agentevo sandbox build | exec | check | status`: the sandbox image, one-off commands, the escape suite."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from agentevo.cli.options import Json
from agentevo.console import err, out, print_json
from agentevo.errors import ConfigError, ErrorCode, SandboxError

if TYPE_CHECKING:
    from agentevo.envs.sandbox.attacks import Case
    from agentevo.envs.sandbox.check import BackendReport

sandbox_app = typer.Typer(help="Sandbox image, one-off commands and the escape suite.", no_args_is_help=True)

BACKENDS = ("docker", "bwrap", "local")


@sandbox_app.command()
def build(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the image exists.")] = False,
    json_mode: Json = False,
) -> None:
    """Build the docker sandbox image from Debian packages (no registry); a no-op when it is up to date."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from agentevo.envs.sandbox.docker import client
    from agentevo.envs.sandbox.image import build_image, load_recipe

    recipe = load_recipe()
    engine = client()
    stages = ["debootstrap", "setup", "pack", "import", "test"]
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
        transient=True, disable=not err.is_terminal,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{recipe.tag}: checking", total=len(stages))

        seen: list[str] = []

        def report(stage: str, detail: str) -> None:
            done = stages.index(stage) if stage in stages else 0
            progress.update(task, completed=done, description=f"{stage}: {detail[:70]}")
            if not err.is_terminal and stage not in seen:  # logs get one line per stage
                seen.append(stage)
                err.print(f"sandbox image: {stage}: {detail}", highlight=False)

        try:
            result = build_image(engine, recipe, report=report, force=force)
        finally:
            engine.close()
    if json_mode:
        return print_json(result.to_json())
    verb = f"built in {result.seconds:.0f} s" if result.built else "up to date (nothing to build)"
    out.print(f"{result.tag} {verb}; {result.size_mb:.0f} MB")


@sandbox_app.command("exec")
def exec_command(
    command: Annotated[
        list[str], typer.Argument(help="The command (after --); one word runs through sh -c.")
    ],
    backend: Annotated[str, typer.Option("--backend", "-b", help="auto, docker, bwrap or local.")] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before the command is killed.")] = 10.0,
    json_mode: Json = False,
) -> None:
    """Run one command in a fresh sandbox with the episode limits; print its output and how it ended."""
    from agentevo.config import SandboxConfig
    from agentevo.envs.sandbox import Limits, open_sandbox, resolve_backend

    if timeout <= 0:
        raise ConfigError("--timeout must be positive")
    name = resolve_backend(backend)
    sandbox = open_sandbox(name, Limits.from_config(SandboxConfig(timeout_s=timeout)))
    try:
        result = sandbox.exec(command[0] if len(command) == 1 else command, timeout_s=timeout)
    finally:
        sandbox.close()
    if json_mode:
        print_json({"backend": name, **result.model_dump()})
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        how = (
            "timed out" if result.timed_out else (f"killed ({result.killed})" if result.killed else "exited")
        )
        trunc = ", output truncated" if result.truncated else ""
        err.print(
            f"[{name}] {how}, exit code {result.exit_code}, {result.seconds:.2f} s{trunc}", highlight=False
        )
    raise typer.Exit(result.exit_code)


@sandbox_app.command()
def check(
    backend: Annotated[
        list[str] | None, typer.Option("--backend", "-b", help="docker, bwrap or local (repeatable).")
    ] = None,
    case: Annotated[
        list[str] | None, typer.Option("--case", help="Run only this case id (repeatable).")
    ] = None,
    json_mode: Json = False,
) -> None:
    """Run the escape and resource-bomb suite against each available backend; exit 1 if anything escaped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentevo.envs.sandbox import backend_available, open_sandbox
    from agentevo.envs.sandbox.attacks import cases
    from agentevo.envs.sandbox.check import CHECK_LIMITS, Context, harmless, run_backend

    selected = pick_cases(cases(), case or [])
    names = backend or [b for b in ("docker", "bwrap") if backend_available(b)]
    for name in names:
        if name not in BACKENDS:
            raise ConfigError(f"unknown sandbox {name!r}: use docker, bwrap or local")
        if not backend_available(name):
            raise SandboxError(f"the {name} sandbox is not available here", ErrorCode.UNAVAILABLE)
    if not names:
        raise SandboxError("no sandbox backend is available to check", ErrorCode.UNAVAILABLE)
    ctx = Context()
    reports = []
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as progress:  # fmt: skip
            for name in names:
                bar = progress.add_task(name, total=len(selected))

                def advance(result: object, bar: int = bar) -> None:
                    progress.advance(bar)

                factory = lambda name=name: open_sandbox(name, CHECK_LIMITS)  # noqa: E731
                chosen = harmless(selected) if name == "local" else selected
                if len(chosen) < len(selected):
                    err.print(
                        f"{name}: no isolation, so only the {len(chosen)} cases that cannot harm this machine"
                    )
                reports.append(run_backend(name, factory, ctx, chosen, on_case=advance))
    finally:
        ctx.close()
    ok = all(r.ok for r in reports)
    if json_mode:
        print_json({"ok": ok, "limits": vars(CHECK_LIMITS), "backends": [r.to_json() for r in reports]})
    else:
        for r in reports:
            out.print(report_table(r))
    if not ok:
        raise typer.Exit(1)


def pick_cases(all_cases: list[Case], wanted: list[str]) -> list[Case]:
    if not wanted:
        return all_cases
    known = {c.id: c for c in all_cases}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ConfigError(f"unknown case {unknown[0]!r}; see `agentevo sandbox check --json` for the ids")
    return [known[w] for w in wanted]


def report_table(r: BackendReport) -> Table:
    title = (
        f"{r.backend}: {len(r.cases) - r.escaped - r.errors}/{len(r.cases)} contained, {r.escaped} escaped, "
        f"{r.errors} errors; bombs within limit: {'yes' if r.bombs_in_time else 'NO'}; left behind: "
        f"{len(r.leftover_processes)} processes, {len(r.leftover_containers)} containers, "
        f"{len(r.leftover_folders)} folders ({r.seconds:.0f} s)"
    )
    table = Table("case", "group", "result", "s", "evidence", title=title, title_justify="left")
    colour = {"contained": "green", "escaped": "red", "error": "yellow"}
    for c in r.cases:
        table.add_row(
            c.id, c.group, f"[{colour[c.status]}]{c.status}[/]", f"{c.seconds:.1f}", c.error or c.evidence
        )
    return table


@sandbox_app.command()
def status(json_mode: Json = False) -> None:
    """Which backends are available, and whether the docker image of the current recipe is built."""
    from agentevo.envs.sandbox import backend_available
    from agentevo.envs.sandbox.docker import engine_answers
    from agentevo.envs.sandbox.image import load_recipe

    recipe = load_recipe()
    rows = {
        "docker": backend_available("docker"),
        "bwrap": backend_available("bwrap"),
        "engine": engine_answers(),
        "image": recipe.tag,
    }
    if json_mode:
        return print_json(rows)
    table = Table("backend", "available", "note")
    note = (
        "image built"
        if rows["docker"]
        else ("run `agentevo sandbox build`" if rows["engine"] else "no engine")
    )
    table.add_row("docker", str(rows["docker"]), f"{recipe.tag}: {note}")
    table.add_row("bwrap", str(rows["bwrap"]), "")
    table.add_row("local", "True", "no isolation: only by name")
    out.print(table)
