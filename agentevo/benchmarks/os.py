"""The `os` suite: our own AgentBench-format shell tasks, written as templates with several instances each.

A template (`environments/os/templates/<id>.yaml`) is an AgentBench task config whose strings hold
`{{name}}` placeholders, plus `params` (how to draw fresh values), `snippets` (shared code, rendered with
the params) and `instances` (the fixed values of the suite's tasks). Scripts given as `{file: …}` are read
from `environments/os/scripts/`. Task ids are `<template>-<n>`; the split is by instance: per template, the
instances ranked first by a hash of their id (30%, at least one) are `test`, the next (15%, at least one
when two are left) `validation`, the rest `train`, so every template is in all three.
`make_instances(template, n, seed)` draws fresh practice instances, never with a held-out instance's values.

Every task has a reference solution (`evaluation.example`, a bash script); `reference_replies` turns it
into the replies a model would give.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentevo.assets import environment_dir
from agentevo.benchmarks import EnvContext, Suite, register_suite
from agentevo.config import RunConfig
from agentevo.envs.os import LANGUAGES, OSEnvironment, as_scripts, script_argv
from agentevo.envs.sandbox import open_sandbox
from agentevo.errors import EnvError, SuiteError
from agentevo.protocols import Environment, Sandbox
from agentevo.records import Task

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
TEST_FRACTION = 0.3
VALIDATION_FRACTION = 0.15
CATEGORIES = ("files", "text", "permissions", "processes", "archives", "users", "scripts")


def root() -> Path:
    return environment_dir("os", "AGENTEVO_OS_TASKS")


# --- templates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    id: str
    category: str
    task: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    snippets: dict[str, str] = field(default_factory=dict)
    instances: tuple[dict[str, Any], ...] = ()

    def render(self, values: dict[str, Any], task_id: str, split: str) -> Task:
        missing = set(self.params) - set(values)
        if missing:
            raise SuiteError(f"os template {self.id}: instance lacks {', '.join(sorted(missing))}")
        context = {k: str(v) for k, v in values.items()}
        context.update({k: fill(v, context, self.id) for k, v in self.snippets.items()})
        config = fill(self.task, context, self.id)
        return to_task(config, task_id, self.id, split, {"category": self.category, "params": values})

    def draw(self, rng: random.Random) -> dict[str, Any]:
        return {name: draw(spec, rng, f"{self.id}.{name}") for name, spec in self.params.items()}


def fill(value: Any, context: dict[str, str], where: str) -> Any:
    """Replace every {{name}} in the strings of a nested structure."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in context:
                raise SuiteError(f"os template {where}: unknown placeholder {{{{{m.group(1)}}}}}")
            return context[m.group(1)]

        return PLACEHOLDER.sub(sub, value)
    if isinstance(value, list):
        return [fill(v, context, where) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, context, where) for k, v in value.items()}
    return value


def draw(spec: Any, rng: random.Random, where: str) -> Any:
    """A value for one param: {randint: [lo, hi]}, {choice: [...]} or {token: length}."""
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, arg),) = spec.items()
        if kind == "randint" and isinstance(arg, list) and len(arg) == 2:
            return rng.randint(int(arg[0]), int(arg[1]))
        if kind == "choice" and isinstance(arg, list) and arg:
            return rng.choice(arg)
        if kind == "token" and isinstance(arg, int) and arg > 0:
            return "".join(rng.choice(string.ascii_lowercase) for _ in range(arg))
    raise SuiteError(
        f"os template {where}: a param is {{randint: [lo, hi]}}, {{choice: [...]}} or {{token: n}}"
    )


def resolve_script(script: Any, scripts_dir: Path, where: str) -> dict[str, str] | str | None:
    """AgentBench's script object (bash string, or {language, file | code}) as {language, code}."""
    if script is None or isinstance(script, str):
        return script
    if not isinstance(script, dict):
        raise SuiteError(f"{where}: a script is a string or a mapping, not {type(script).__name__}")
    language = script.get("language", "bash")
    if language not in LANGUAGES:
        raise SuiteError(f"{where}: scripts in {language!r} are not supported (bash or python)")
    if "code" in script:
        return {"language": language, "code": str(script["code"])}
    if "file" in script:
        path = (scripts_dir / str(script["file"])).resolve()
        if scripts_dir.resolve() not in path.parents or not path.is_file():
            raise SuiteError(f"{where}: no script file {script['file']!r} under {scripts_dir}")
        return {"language": language, "code": path.read_text()}
    raise SuiteError(f"{where}: a script mapping needs `code` or `file`")


def to_task(config: dict[str, Any], task_id: str, template: str, split: str, extra: dict[str, Any]) -> Task:
    """An AgentBench task config (scripts resolved) as our Task record."""
    if not isinstance(config.get("description"), str):
        raise SuiteError(f"os task {task_id}: needs a `description`")
    evaluation = config.get("evaluation")
    if not isinstance(evaluation, dict) or not ({"match", "check"} & set(evaluation)):
        raise SuiteError(f"os task {task_id}: `evaluation` needs `match` or `check`")
    create = config.get("create") or {}
    meta = {
        **extra,
        "template": template,
        "init": as_scripts(create.get("init")),
        "start": config.get("start"),
        "evaluation": evaluation,
        "labels": list(config.get("labels") or []),
    }
    return Task(
        id=task_id,
        suite="os",
        kind="os",
        instruction=config["description"],
        template_id=template,
        split=split,
        meta=meta,
    )


def load_template(path: Path, scripts_dir: Path) -> Template:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SuiteError(f"{path}:{where} malformed YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("task"), dict):
        raise SuiteError(f"{path}: a template is a mapping with a `task`")
    task = resolve_scripts(data["task"], scripts_dir, str(path))
    if (data.get("category") or "") not in CATEGORIES:
        raise SuiteError(f"{path}: category must be one of {', '.join(CATEGORIES)}")
    return Template(
        id=str(data.get("template") or path.stem),
        category=str(data["category"]),
        task=task,
        params=dict(data.get("params") or {}),
        snippets={str(k): str(v) for k, v in (data.get("snippets") or {}).items()},
        instances=tuple(dict(i) for i in data.get("instances") or ()),
    )


def resolve_scripts(task: dict[str, Any], scripts_dir: Path, where: str) -> dict[str, Any]:
    task = dict(task)
    create = dict(task.get("create") or {})
    if "init" in create:
        create["init"] = [resolve_script(s, scripts_dir, where) for s in as_scripts(create["init"])]
        task["create"] = create
    if "start" in task:
        task["start"] = resolve_script(task["start"], scripts_dir, where)
    evaluation = dict(task.get("evaluation") or {})
    if "check" in evaluation:
        evaluation["check"] = [resolve_script(s, scripts_dir, where) for s in as_scripts(evaluation["check"])]
    if "example" in evaluation:
        evaluation["example"] = resolve_script(evaluation["example"], scripts_dir, where)
    task["evaluation"] = evaluation
    return task


@functools.cache
def templates() -> dict[str, Template]:
    folder = root()
    files = sorted((folder / "templates").glob("*.yaml"))
    if not files:
        raise SuiteError(f"suite os: no templates in {folder / 'templates'}")
    found: dict[str, Template] = {}
    for path in files:
        template = load_template(path, folder / "scripts")
        if template.id in found:
            raise SuiteError(f"{path}: template id {template.id!r} is used twice")
        found[template.id] = template
    return found


def split_of(task_ids: list[str]) -> dict[str, str]:
    """Per template, by hash of the id: the first 30% (at least one) are test, the next 15% (at least one
    when two are left) validation, the rest train."""
    ranked = sorted(task_ids, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    n_test = max(1, round(TEST_FRACTION * len(ranked))) if len(ranked) > 1 else 0
    n_val = max(1, round(VALIDATION_FRACTION * len(ranked))) if len(ranked) - n_test > 1 else 0
    sides = ["test"] * n_test + ["validation"] * n_val
    return {t: sides[i] if i < len(sides) else "train" for i, t in enumerate(ranked)}


def load() -> list[Task]:
    tasks = []
    for template in templates().values():
        ids = [f"{template.id}-{n + 1}" for n in range(len(template.instances))]
        splits = split_of(ids)
        tasks += [template.render(v, i, splits[i]) for i, v in zip(ids, template.instances, strict=True)]
    return tasks


def make_instances(template_id: str, n: int, seed: int = 0) -> list[Task]:
    """Fresh practice instances of a template (split `train`), drawn from its params with this seed; a draw
    that equals a validation or test instance is skipped, so practice never sees a held-out task."""
    found = templates()
    if template_id not in found:
        raise SuiteError(f"no os template {template_id!r}; known: {', '.join(sorted(found))}")
    template = found[template_id]
    held_out = {
        repr(sorted(t.meta["params"].items()))
        for t in load()
        if t.template_id == template_id and t.split != "train"
    }
    rng = random.Random(f"{template_id}:{seed}")
    tasks: list[Task] = []
    for _ in range(n * 20):  # a template with few possible values may not have n fresh ones
        values = template.draw(rng)
        if repr(sorted(values.items())) not in held_out:
            tasks.append(template.render(values, f"{template_id}-s{seed}-{len(tasks)}", "train"))
        if len(tasks) == n:
            break
    return tasks


# --- reference solutions --------------------------------------------------------------------------------


def needs_answer(task: Task) -> bool:
    """Whether the task is judged on the agent's answer (match, or a check chain that starts from it)."""
    evaluation = task.meta["evaluation"]
    return "match" in evaluation or (as_scripts(evaluation.get("check")) or [0])[0] is None


def example_code(task: Task) -> str:
    example = task.meta["evaluation"].get("example")
    if example is None:
        raise SuiteError(f"os task {task.id}: no reference solution (`evaluation.example`)")
    if isinstance(example, str) or example.get("language", "bash") == "bash":
        return example if isinstance(example, str) else example["code"]
    return f"python3 - <<'AGENTEVO_EOF'\n{example['code']}\nAGENTEVO_EOF"


def reference_answer(task: Task, sandbox: Sandbox) -> str:
    """Run init, start and the example in a scratch sandbox; the example's output is the answer."""
    env = OSEnvironment(lambda: sandbox)
    env.reset(task)
    result = sandbox.exec(script_argv(task.meta["evaluation"]["example"]))
    if not result.ok:
        raise EnvError(f"os task {task.id}: its reference solution failed (exit {result.exit_code})")
    return result.stdout.strip()


def reference_replies(task: Task, answer: str | None = None) -> list[str]:
    """The replies of a model that knows the reference solution, in AgentBench's format."""
    bash = f"Think: I run the commands that solve this.\n\nAct: bash\n\n```bash\n{example_code(task)}\n```"
    if needs_answer(task):
        if answer is None:
            raise SuiteError(f"os task {task.id}: its reference replies need the answer")
        return [bash, f"Think: The output is the answer.\n\nAct: answer({answer})"]
    return [bash, "Think: The task is done.\n\nAct: finish"]


# --- the suite ------------------------------------------------------------------------------------------


def make_env(ctx: EnvContext) -> Environment:
    cfg = ctx.config.sandbox
    return OSEnvironment(lambda: open_sandbox(cfg.backend, cfg), timeout_s=cfg.timeout_s)


def check(cfg: RunConfig) -> None:
    if cfg.sandbox.backend == "local":
        raise SuiteError(
            "suite os needs an isolating sandbox (docker or bwrap): its scripts write to /work and "
            "leave processes running, which the local backend would do on this machine"
        )


SUITE = register_suite(
    Suite(
        name="os",
        kind="os",
        description="shell tasks, AgentBench-OS format: files, text, permissions, processes, archives, users",
        load=load,
        make_env=make_env,
        check=check,
        prompt_set="os",
        make_instances=make_instances,
    )
)
