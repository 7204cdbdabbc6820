"""Replays: a tool must still earn its source trajectory's reward in a freshly reset environment.

A reward of 0 never passes (a tool must succeed, not merely match a failed source). In label-free runs a
judge (`ReplayJudge`) decides instead of the benchmark's reward, which is then not read at all.

The task is looked up again in its suite (keeping the stored seed), so a replay sees today's environment —
which is how `agentevo tools verify` notices a tool whose site, image or task has changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentevo.errors import AgentevoError
from agentevo.kinds import kind
from agentevo.protocols import Environment
from agentevo.records import Action, Step, Task, Tool, Trajectory
from agentevo.tools.candidate import Replay
from agentevo.tools.execute import ToolExecutor

if TYPE_CHECKING:
    from agentevo.benchmarks import EnvContext

log = logging.getLogger(__name__)

EnvFactory = Callable[[Task], Environment]
ReplayJudge = Callable[[Trajectory], bool]


@dataclass
class ReplayResult:
    ok: bool
    reward: float
    detail: str


def current_task(stored: Task) -> Task:
    """The task as its suite defines it now (with the stored seed); the stored copy when the suite is gone."""
    from agentevo.benchmarks import get_suite

    try:
        tasks = get_suite(stored.suite).tasks("all")
    except AgentevoError:
        return stored
    fresh = next((t for t in tasks if t.id == stored.id), None)
    if fresh is None:
        return stored
    keep = {k: stored.meta[k] for k in ("seed",) if k in stored.meta}
    return fresh.model_copy(update={"meta": {**fresh.meta, **keep}})


class SuiteEnvs:
    """One environment per suite, made the way the runner makes them, kept until `close`."""

    def __init__(self, workspace: Path, config: object | None = None, *, sandbox: str | None = None) -> None:
        from agentevo.config import RunConfig

        self.workspace = workspace
        self.config = config if config is not None else RunConfig()
        if sandbox is not None:  # replays run where the archive's tools run
            self.config = self.config.model_copy(
                update={"sandbox": self.config.sandbox.model_copy(update={"backend": sandbox})}
            )  # type: ignore[attr-defined]
        self.envs: dict[str, Environment] = {}

    def context(self) -> EnvContext:
        """The context a suite builds an environment from, as the runner would give it."""
        from agentevo.benchmarks import EnvContext

        return EnvContext(
            config=self.config,  # type: ignore[arg-type]
            workspace=self.workspace,
            run_dir=self.workspace / "runs",
            options=dict(self.config.environment.options),  # type: ignore[attr-defined]
        )

    def __call__(self, task: Task) -> Environment:
        from agentevo.benchmarks import get_suite

        if task.suite not in self.envs:
            self.envs[task.suite] = get_suite(task.suite).make_env(self.context())
        return self.envs[task.suite]

    def close(self) -> None:
        envs, self.envs = self.envs, {}
        for env in envs.values():
            try:
                env.close()
            except Exception:  # a broken environment must not hide the verdict
                log.warning("closing a replay environment raised", exc_info=True)


def end_episode(spec: Replay, output: str, env: Environment, index: int) -> Step:
    """End the episode the way its source did: `finish`, or answer with what the tool printed."""
    if spec.finish == "finish":
        action = Action(name="finish")
    else:
        action = Action(name="answer", args={"answer": output.strip()})
    return Step(index=index, action=action, observation=env.step(action))


def replay(
    tool: Tool, spec: Replay, envs: EnvFactory, executor: ToolExecutor, judge: ReplayJudge | None = None
) -> ReplayResult:
    try:
        task = current_task(spec.task)
        env = envs(task)
        env.reset(task)
        as_action = kind(tool.kind).replay_action
        if as_action is not None:
            action = as_action(tool)
            steps = [Step(index=0, action=action, observation=env.step(action))]
            error = steps[0].observation.error or ""
        else:
            performed = executor.perform(tool, spec.args, env)
            steps, error = performed.steps, performed.error
            if performed.ok and spec.finish:
                steps.append(end_episode(spec, performed.observation.text, env, len(steps)))
        traj = Trajectory(
            id=f"replay:{tool.name}@{tool.version}",
            run_id="replay",
            task=task,
            steps=tuple(steps),
            outcome="success",
        )
        if judge is not None:
            ok = judge(traj)
            verdict = f"{task.id}: the judge saw {'a success' if ok else 'no success'}"
            return ReplayResult(ok, 1.0 if ok else 0.0, verdict + (f"; {error}" if error and not ok else ""))
        reward = float(env.score(traj))
    except AgentevoError as exc:
        return ReplayResult(False, 0.0, f"{spec.task.id}: {exc}")
    ok = reward > 0 and reward >= spec.reward - 1e-9
    detail = f"{task.id}: reward {reward:g} (source {spec.reward:g})" + (
        f"; {error}" if error and not ok else ""
    )
    return ReplayResult(ok, reward, detail)
