"""The evolution loop: practise on training tasks, learn from each episode, evaluate on held-out tasks,
keep what does not make held-out results worse.

    for each round:                                   (per ablation condition)
        K training episodes (sampled), chosen by the curriculum, each shown what the learner holds
            label (reward or LLM judge) → learn (reflect → curate → commit; compile → gate)
        evaluate the held-out split × seeds with the learner frozen                      → one curve point
        gate: paired against the last kept evaluation; worse beyond the tolerance → roll the learner back

State is saved after every batch; budget (tokens, minutes) and plateau (patience) stop the loop, and
`agentevo evolve --resume ID` continues it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentevo.benchmarks import Suite
from agentevo.config import RunConfig
from agentevo.evolve.curriculum import Curriculum
from agentevo.evolve.judge import Agreement, LLMJudge
from agentevo.evolve.learners import ConditionLearner
from agentevo.evolve.report import CurvePoint
from agentevo.evolve.state import ConditionState, EvolveOptions, EvolveState
from agentevo.models.sampling import AtTemperature
from agentevo.protocols import Model
from agentevo.records import Task, Trajectory
from agentevo.runs.runner import Runner, episode_id
from agentevo.runs.store import TrajectoryStore
from agentevo.runs.summary import wilson

log = logging.getLogger(__name__)


class BudgetExhausted(Exception):
    pass


@dataclass
class Evolution:
    """Everything one evolution run needs; `run()` drives it to the end (or to its budget)."""

    config: RunConfig
    options: EvolveOptions
    workspace: Path
    store: TrajectoryStore
    model: Model
    suite: Suite
    state: EvolveState
    judge_model: Model | None = None
    show_progress: bool = False
    on_event: Callable[[str], None] = lambda message: None
    on_progress: Callable[[str, int], None] = lambda condition, units: None
    learners: dict[str, ConditionLearner] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = self.workspace / "runs" / self.state.evolve_id
        self.train_tasks = limit(self.suite.tasks(self.options.train_split), self.options.train_limit)
        self.eval_tasks = limit(self.suite.tasks(self.options.eval_split), self.options.eval_limit)
        self.judge = LLMJudge(self.judge_model or self.model) if self.options.label == "judge" else None
        self.agreement = Agreement(model=self.judge.name) if self.judge else None
        self.started = time.monotonic() - self.state.seconds
        self._lock = threading.Lock()

    # --- driving ----------------------------------------------------------------------------------------
    def run(self) -> EvolveState:
        try:
            for name in self.options.ablate:
                self.learners[name] = ConditionLearner(
                    name, self.folder / safe(name), self.config, self.model
                ).open()
            for name in self.options.ablate:
                self.ensure_baseline(name)
            while self.active():
                for name in self.options.ablate:
                    cond = self.state.conditions[name]
                    if not cond.stopped and cond.round < self.options.rounds:
                        self.one_round(name)
            self.state.status = "done"
        except BudgetExhausted as exc:
            self.state.status = f"stopped: {exc}"
            self.on_event(f"stopped: {exc} (resume with agentevo evolve --resume {self.state.evolve_id})")
        except KeyboardInterrupt:
            self.state.status = "interrupted"
            raise
        finally:
            self.save()
        return self.state

    def close(self) -> None:
        for learner in self.learners.values():
            learner.close()

    def active(self) -> bool:
        return any(not c.stopped and c.round < self.options.rounds for c in self.state.conditions.values())

    def ensure_baseline(self, name: str) -> None:
        cond = self.state.conditions[name]
        if not cond.points:
            point, outcomes = self.evaluate(name, 0)
            cond.points.append(vars(point))
            cond.accepted_outcomes = outcomes
            cond.accepted_marker = self.learners[name].marker()
            cond.best_rate = point.rate
            self.save()

    def one_round(self, name: str) -> None:
        cond = self.state.conditions[name]
        learner = self.learners[name]
        if learner.learns:
            self.train(name, self.options.eval_every)
        point, outcomes = self.evaluate(name, cond.round + 1)
        self.gate(name, point, outcomes)
        cond.points.append(vars(point))
        cond.round += 1  # only now: a round stopped before its evaluation resumes with that evaluation
        self.plateau(cond, point)
        self.save()

    # --- training ---------------------------------------------------------------------------------------
    def train(self, name: str, episodes: int) -> None:
        cond = self.state.conditions[name]
        learner = self.learners[name]
        curriculum = Curriculum(
            self.train_tasks,
            kind=self.options.curriculum,
            seed=self.config.run.seed,
            fresh=self.fresh_instances(),
        )
        curriculum.restore(cond.curriculum)
        explorer = AtTemperature(self.model, self.options.train_temperature)
        runner = self.runner(name, learner.recaller(frozen=False), model=explorer)
        run_id = f"{self.state.evolve_id}-{safe(name)}-train"
        if self.store.get_run(run_id) is None:
            runner.start([], kind="evolve-train", run_id=run_id)
        target = (cond.round + 1) * episodes
        while cond.episodes < target:
            self.check_budget()
            batch = [
                curriculum.next_task()
                for _ in range(min(self.config.run.concurrency, target - cond.episodes))
            ]
            for traj in self.run_batch(runner, run_id, batch, cond):
                success = self.label(traj)
                learner.learn(relabel(traj, success, self.judge))
                curriculum.record(traj.task, success)
            cond.episodes += len(batch)
            cond.curriculum = curriculum.to_state()
            self.save()
            self.on_progress(name, len(batch))
        runner.close_envs()

    def run_batch(
        self, runner: Runner, run_id: str, batch: Sequence[Task], cond: ConditionState
    ) -> list[Trajectory]:
        todo = []
        for task in batch:
            todo.append((task, cond.samples, self.config.run.seed + cond.samples))
            cond.samples += 1
        done: list[Trajectory] = []
        runner.on_trajectory = lambda traj: self.collect(done, traj)
        runner.run_all(run_id, todo, total=len(todo), already=0)
        order = {episode_id(run_id, t.id, i): n for n, (t, i, _) in enumerate(todo)}
        return sorted(done, key=lambda traj: order.get(traj.id, 0))

    def collect(self, done: list[Trajectory], traj: Trajectory) -> None:
        with self._lock:
            done.append(traj)
            self.state.tokens += traj.tokens

    def label(self, traj: Trajectory) -> bool:
        if self.judge is None:
            return traj.succeeded
        verdict = self.judge.judge(traj)
        assert self.agreement is not None
        self.agreement.add(verdict, traj.succeeded)
        self.state.judge = self.agreement.to_json()
        return verdict.success

    def fresh_instances(self) -> Any:
        make = getattr(self.suite, "make_instances", None)
        if make is None:
            return None
        return lambda template, n, seed: [
            t for t in make(template, n, seed) if t.split != self.options.eval_split
        ]

    # --- evaluation and the gate --------------------------------------------------------------------------
    def evaluate(self, name: str, round_: int) -> tuple[CurvePoint, dict[str, float]]:
        self.check_budget()
        learner = self.learners[name]
        runner = self.runner(name, learner.recaller(frozen=True), samples=self.options.seeds)
        run_id = f"{self.state.evolve_id}-{safe(name)}-eval{round_}"
        manifest = (
            self.store.manifest(run_id)
            if self.store.get_run(run_id)
            else runner.start(self.eval_tasks, kind="evolve-eval", run_id=run_id)
        )
        summary = runner.execute(manifest, self.eval_tasks)
        if summary.status == "interrupted":
            raise KeyboardInterrupt
        rows = [r for r in self.store.episodes(run_id) if r.status == "done"]
        with self._lock:
            self.state.tokens += sum(r.tokens for r in rows)
        outcomes = {f"{r.task_id}|{r.sample}": 1.0 if r.outcome == "success" else 0.0 for r in rows}
        solved = [r for r in rows if r.outcome == "success"]
        trained = self.state.conditions[name].episodes
        episodes = trained if learner.learns else round_ * self.options.eval_every
        point = CurvePoint(
            condition=name,
            episodes=episodes,
            successes=len(solved),
            n=len(rows),
            ci95=wilson(len(solved), len(rows)),
            tokens=sum(r.tokens for r in rows),
            steps_per_solved=(sum(r.steps for r in solved) / len(solved)) if solved else None,
            run_id=run_id,
        )
        self.on_progress(name, 1)
        self.on_event(
            f"{name}: round {round_}, held-out {point.successes}/{point.n} ({trained} episodes trained)"
        )
        return point, outcomes

    def gate(self, name: str, point: CurvePoint, outcomes: dict[str, float]) -> None:
        cond = self.state.conditions[name]
        learner = self.learners[name]
        keys = [k for k in outcomes if k in cond.accepted_outcomes]
        before = sum(cond.accepted_outcomes[k] for k in keys) / len(keys) if keys else 0.0
        after = sum(outcomes[k] for k in keys) / len(keys) if keys else 0.0
        what = learner.changes_since(cond.accepted_marker)
        if self.options.gate and learner.learns and after - before < -self.options.tolerance:
            reason = f"held-out success fell from {before:.1%} to {after:.1%} on {len(keys)} paired episodes"
            learner.restore(cond.accepted_marker, f"gate {self.state.evolve_id} round {cond.round + 1}")
            point.accepted = False
            point.note = f"{after - before:+.1%}"
            cond.rejected.append(
                {
                    "condition": name,
                    "episodes": point.episodes,
                    "round": cond.round + 1,
                    "what": what,
                    "before": before,
                    "after": after,
                    "reason": reason,
                }
            )
            self.on_event(f"{name}: gate rolled back ({what}): {reason}")
            return
        cond.accepted_marker = learner.marker()
        cond.accepted_outcomes = outcomes

    def plateau(self, cond: ConditionState, point: CurvePoint) -> None:
        if point.accepted and point.rate > cond.best_rate:
            cond.best_rate, cond.since_best = point.rate, 0
            return
        cond.since_best += 1
        if self.options.patience and cond.since_best >= self.options.patience:
            cond.stopped = f"plateau: no new best in {cond.since_best} evaluations"
            self.on_event(f"{cond.name}: {cond.stopped}")

    # --- plumbing -------------------------------------------------------------------------------------------
    def runner(self, name: str, recaller: Any, samples: int = 1, model: Model | None = None) -> Runner:
        cfg = self.config.model_copy(deep=True)
        cfg.run.samples = samples
        return Runner(
            config=cfg,
            workspace=self.workspace,
            store=self.store,
            model=model or self.model,
            suite=self.suite,
            recaller=recaller,
            show_progress=self.show_progress,
        )

    def check_budget(self) -> None:
        minutes = (time.monotonic() - self.started) / 60
        if self.options.budget_minutes is not None and minutes >= self.options.budget_minutes:
            raise BudgetExhausted(f"time budget of {self.options.budget_minutes:g} min reached")
        if self.options.budget_tokens is not None and self.state.tokens >= self.options.budget_tokens:
            raise BudgetExhausted(f"token budget of {self.options.budget_tokens:,} reached")

    def save(self) -> None:
        self.state.seconds = time.monotonic() - self.started
        self.state.save(self.folder)


def relabel(traj: Trajectory, success: bool, judge: LLMJudge | None) -> Trajectory:
    """The trajectory as the learner should see it: judged outcome when a judge labels, else unchanged."""
    if judge is None:
        return traj
    outcome = "success" if success else ("failure" if traj.outcome == "success" else traj.outcome)
    return traj.model_copy(update={"outcome": outcome, "judge": judge.name})


def limit(tasks: list[Task], n: int | None) -> list[Task]:
    return tasks[:n] if n else tasks


def safe(name: str) -> str:
    return name.replace("+", "_")
