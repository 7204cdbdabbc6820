"""The evolution loop: practise on training tasks, learn from each episode, keep only what does not make
validation results worse, and report the test split.

    for each training run of each condition (--seeds runs per learning condition, each from scratch):
        for each round:
            K training episodes (sampled), chosen by the curriculum, each shown what the learner holds
                (with --explore beam:K|tree:BUDGET: searched, see evolve.explore)
                label (reward or LLM judge) → learn (reflect → curate → commit; compile → gate)
            lora conditions: the round's successes train the round's adapter (evolve.distil); the round's
                evaluations and the next round's episodes run on it
            evaluate the validation split with the learner frozen     → what every decision reads
            evaluate the test split with the learner frozen           → one point of the reported curve
            gate: validation paired against the last kept state; worse beyond the tolerance → roll back

Decisions (the gate, the plateau stop) read validation outcomes only — labelled by the judge in label-free
runs — and the test split is scored by the benchmark's reward and never read by a decision. State is saved
after every batch; budget (tokens, minutes) and plateau (patience) stop the loop, and
`agentevo evolve --resume ID` continues it. Each training run keeps what its practice cost (model tokens of
training episodes, searches and judge calls on them; wall seconds of training batches and distillation),
and every curve point carries the figures as they stood when it was taken.
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
from agentevo.evolve.conditions import ConditionLearner
from agentevo.evolve.curriculum import Curriculum
from agentevo.evolve.distil import DISTIL_SETTINGS, TrainSettings
from agentevo.evolve.explore import Explorer, parse_explore
from agentevo.evolve.judge import Agreement, LLMJudge
from agentevo.evolve.relabel import Relabeller, for_runner, parse_relabel
from agentevo.evolve.report import CurvePoint
from agentevo.evolve.state import ConditionState, EvolveOptions, EvolveState
from agentevo.models.sampling import AtTemperature
from agentevo.protocols import Learner, Model
from agentevo.records import Task, Trajectory
from agentevo.runs.build import build_runner
from agentevo.runs.runner import Runner, episode_id
from agentevo.runs.store import TrajectoryStore
from agentevo.runs.summary import wilson

log = logging.getLogger(__name__)


RUN_SEED_STRIDE = 10_000  # run k samples from seed + (k - 1) × this; miniwob train seeds stay < 1,000,000


class BudgetExhausted(Exception):
    pass


@dataclass
class Evaluation:
    point: CurvePoint
    rewarded: dict[str, float]  # task id → 1/0 by the benchmark's reward
    judged: dict[str, float]  # task id → 1/0 by the judge ({} unless label-free)
    by_judge: bool = False

    @property
    def decided(self) -> dict[str, float]:
        """What a decision reads: the judge's verdicts in label-free runs, else the reward."""
        return self.judged if self.by_judge else self.rewarded


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
    model_for: Callable[[str], Model] | None = None  # lora: the model on an adapter (default: adapted_model)
    distil_settings: TrainSettings = DISTIL_SETTINGS

    def __post_init__(self) -> None:
        self.folder = self.workspace / "runs" / self.state.evolve_id
        opts = self.options
        self.train_tasks = limit(self.suite.tasks(opts.train_split), opts.train_limit)
        self.validation_tasks = limit(self.suite.tasks(opts.validation_split), opts.eval_limit)
        self.test_tasks = limit(self.suite.tasks(opts.test_split), opts.eval_limit)
        self.judge = LLMJudge(self.judge_model or self.model) if opts.label == "judge" else None
        self.explore = parse_explore(opts.explore)
        self.hindsight = parse_relabel(opts.relabel, opts.label)
        self.agreements = {
            split: Agreement(**(self.state.judge or {}).get(split, {"model": self.judge.name}))
            for split in ("train", "validation", "test")
            if self.judge
        }
        self.started = time.monotonic() - self.state.seconds
        self._lock = threading.Lock()

    # --- driving ----------------------------------------------------------------------------------------
    def run(self) -> EvolveState:
        try:
            for name, cond in self.state.conditions.items():
                self.learners[name] = ConditionLearner(
                    cond.condition,
                    self.folder / safe(name),
                    self.config,
                    self.model,
                    self.replay_judge(cond),
                    model_for=self.model_for or self.adapted_model,
                    adapter=cond.adapter,
                ).open()
            for name in self.state.conditions:
                self.ensure_baseline(name)
            while self.active():
                for name, cond in self.state.conditions.items():
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
            validation, test = self.evaluate(name, 0, "validation"), self.evaluate(name, 0, "test")
            cond.points += [vars(validation.point), vars(test.point)]
            cond.accepted_outcomes = validation.decided
            cond.accepted_test, cond.accepted_test_judged = test.rewarded, test.judged
            cond.accepted_marker = self.learners[name].marker()
            cond.best_rate = validation.point.rate
            self.save()

    def one_round(self, name: str) -> None:
        cond = self.state.conditions[name]
        learner = self.learners[name]
        if learner.learns:
            self.train(name, self.options.eval_every)
        if learner.uses_lora:
            self.distil(name)
        validation = self.evaluate(name, cond.round + 1, "validation")
        test = self.evaluate(name, cond.round + 1, "test")  # of the state the gate is about to judge
        kept = self.gate(name, validation.point, validation.decided)
        if learner.uses_lora:
            cond.adapters[-1]["kept"] = kept
            cond.adapter = learner.adapter
        validation.point.accepted = test.point.accepted = kept
        test.point.note = validation.point.note
        if kept:
            cond.accepted_test, cond.accepted_test_judged = test.rewarded, test.judged
        cond.points += [vars(validation.point), vars(test.point)]
        cond.round += 1  # only now: a round stopped before its evaluations resumes with them
        self.plateau(cond, validation.point)
        self.save()

    # --- training ---------------------------------------------------------------------------------------
    def train(self, name: str, episodes: int) -> None:
        cond = self.state.conditions[name]
        learner = self.learners[name]
        curriculum = Curriculum(
            self.train_tasks,
            kind=self.options.curriculum,
            seed=self.seed_of(cond),
            fresh=self.fresh_instances(),
        )
        curriculum.restore(cond.curriculum)
        explorer = AtTemperature(learner.agent_model, self.options.train_temperature)
        runner = self.runner(learner.learners(frozen=False), split=self.options.train_split, model=explorer)
        if self.explore.mode != "none":  # practice may search; evaluations never do
            frozen = learner.learners(frozen=True)
            runner.play = Explorer(self.explore, frozen, self.replay_judge(cond)).episode
        run_id = f"{self.state.evolve_id}-{safe(name)}-train"
        if self.store.get_run(run_id) is None:
            runner.start([], kind="evolve-train", run_id=run_id)
        counts = cond.relabelled.setdefault(str(cond.round + 1), {}) if self.hindsight.mode != "none" else {}
        hindsight = for_runner(self.hindsight, runner, learner.learners(frozen=True), counts)
        target = (cond.round + 1) * episodes
        while cond.episodes < target:
            self.check_budget()
            began = time.monotonic()
            batch = [
                curriculum.next_task()
                for _ in range(min(self.config.run.concurrency, target - cond.episodes))
            ]
            for traj in self.run_batch(runner, run_id, batch, cond):
                success = self.label(traj, "train", cond)
                learner.learn(relabel(traj, success, self.judge))
                if success and learner.uses_lora:
                    cond.distil.append(traj.id)
                curriculum.record(traj.task, success)
                if hindsight is not None and not success:  # a verified success of a sibling, if any
                    self.relabel_one(hindsight, traj, learner, cond)
            cond.episodes += len(batch)
            cond.curriculum = curriculum.to_state()
            cond.practice_seconds += time.monotonic() - began
            self.save()
            self.on_progress(name, len(batch))
        runner.close_envs()

    def relabel_one(
        self, hindsight: Relabeller, traj: Trajectory, learner: ConditionLearner, cond: ConditionState
    ) -> None:
        """A kept relabelled success is learned from and, in lora conditions, distilled with the round's
        other successes. Relabelling is an aid: one that fails is logged and practice goes on."""
        try:
            kept = hindsight.attempt(traj, learner.learn)
        except Exception:
            log.warning("relabelling %s failed; practice goes on", traj.id, exc_info=True)
            return
        if kept is not None and learner.uses_lora:
            cond.distil.append(kept.id)

    def distil(self, name: str) -> None:
        """The round's successful training episodes train the round's adapter (evolve.distil); recorded in
        the state with the adapter the round practised with and the one its evaluations use."""
        cond = self.state.conditions[name]
        learner = self.learners[name]
        round_ = cond.round + 1
        if cond.adapters and cond.adapters[-1]["round"] == round_:
            return  # resumed after this round's training
        self.check_budget()
        entry: dict[str, Any] = {
            "round": round_,
            "practised_with": learner.adapter,
            "successes": len(cond.distil),
        }
        if cond.distil:
            found = (self.store.trajectory(i) for i in cond.distil)
            successes = [relabel(t, True, self.judge) for t in found if t is not None]
            began = time.monotonic()
            entry.update(learner.distil(successes, round_, self.distil_settings))
            spent = time.monotonic() - began
            cond.distil_seconds += spent
            cond.practice_seconds += spent
        else:
            entry.update(trained=None, note="no successful training episode")
        entry.update(evaluated_with=learner.adapter, kept=None)
        cond.adapters.append(entry)
        cond.adapter, cond.distil = learner.adapter, []
        self.save()
        if entry["trained"]:
            self.on_event(
                f"{name}: round {round_}, adapter {entry['trained']} trained on {entry['examples']} "
                "successes "
                f"({entry['steps']} steps, {entry['seconds']:.0f} s, loss {entry['loss_first']:.3f} → "
                f"{entry['loss_last']:.3f})"
            )
        else:
            self.on_event(f"{name}: round {round_}, no adapter trained: {entry['note']}")

    def adapted_model(self, name: str) -> Model:
        """The run's model settings with another model string (an adapter on the embedded model); not
        cached: a round trained again after a stop writes a new adapter to the same folder."""
        from agentevo.models import load_model

        return load_model(self.config.model.model_copy(update={"name": name, "cache": False}))

    def run_batch(
        self, runner: Runner, run_id: str, batch: Sequence[Task], cond: ConditionState
    ) -> list[Trajectory]:
        todo = []
        for task in batch:
            todo.append((task, cond.samples, self.seed_of(cond) + cond.samples))
            cond.samples += 1
        done: list[Trajectory] = []
        # learnt from once labelled, in order
        runner.on_episode_end = lambda traj: self.collect(done, traj, cond)
        runner.run_all(run_id, todo, total=len(todo), already=0)
        order = {episode_id(run_id, t.id, i): n for n, (t, i, _) in enumerate(todo)}
        return sorted(done, key=lambda traj: order.get(traj.id, 0))

    def collect(self, done: list[Trajectory], traj: Trajectory, cond: ConditionState) -> None:
        """A finished training episode: its tokens, with a search's extra samples, are practice cost."""
        tokens = traj.tokens + traj.details.get("explored", {}).get("extra_tokens", 0)
        with self._lock:
            done.append(traj)
            self.state.tokens += tokens
            cond.practice_tokens += tokens

    def seed_of(self, cond: ConditionState) -> int:
        """Independent training runs sample and pick tasks from seeds of their own."""
        return self.config.run.seed + (cond.run - 1) * RUN_SEED_STRIDE

    def label(self, traj: Trajectory, split: str, practice: ConditionState | None = None) -> bool:
        """Success as the run learns it: the benchmark's reward, or the judge's verdict when label-free (the
        reward is then only counted for the agreement figure); the judge's tokens count as the practice
        cost of `practice` (a training episode's run)."""
        if self.judge is None:
            return traj.succeeded
        verdict = self.judge.judge(traj)
        with self._lock:
            if practice is not None:
                practice.practice_tokens += verdict.tokens
            self.agreements[split].add(verdict, traj.succeeded)
            self.state.judge = {split: a.to_json() for split, a in self.agreements.items()}
        return verdict.success

    def replay_judge(self, cond: ConditionState) -> Callable[[Trajectory], bool] | None:
        """Label-free runs check a tool's replay (and a search's branches) with the judge, never with the
        benchmark's reward; only practice asks it, so its tokens are `cond`'s practice cost."""
        if self.judge is None:
            return None
        judge = self.judge

        def verdict(traj: Trajectory) -> bool:
            found = judge.judge(traj)
            with self._lock:
                cond.practice_tokens += found.tokens
            return found.success

        return verdict

    def fresh_instances(self) -> Any:
        make = self.suite.make_instances
        if make is None:
            return None
        return lambda template, n, seed: [t for t in make(template, n, seed) if t.split == "train"]

    # --- evaluation and the gate --------------------------------------------------------------------------
    def evaluate(self, name: str, round_: int, split: str) -> Evaluation:
        """One frozen evaluation of a split: its curve point, the benchmark's outcomes per task and, when
        label-free, the judge's."""
        self.check_budget()
        cond = self.state.conditions[name]
        tasks = self.validation_tasks if split == "validation" else self.test_tasks
        learner = self.learners[name]
        runner = self.runner(learner.learners(frozen=True), split=split, model=learner.agent_model)
        run_id = f"{self.state.evolve_id}-{safe(name)}-{'val' if split == 'validation' else 'eval'}{round_}"
        manifest = (
            self.store.manifest(run_id)
            if self.store.get_run(run_id)
            else runner.start(tasks, kind=f"evolve-{split}", run_id=run_id)
        )
        summary = runner.execute(manifest, tasks)
        if summary.status == "interrupted":
            raise KeyboardInterrupt
        rows = [r for r in self.store.episodes(run_id) if r.status == "done"]
        with self._lock:
            self.state.tokens += sum(r.tokens for r in rows)
        rewarded = {r.task_id: 1.0 if r.outcome == "success" else 0.0 for r in rows}
        judged = self.judged(run_id, rows, split) if self.judge else {}
        solved = [r for r in rows if r.outcome == "success"]
        episodes = cond.episodes if self.learners[name].learns else round_ * self.options.eval_every
        point = CurvePoint(
            condition=cond.condition,
            episodes=episodes,
            successes=len(solved),
            n=len(rows),
            ci95=wilson(len(solved), len(rows)),
            tokens=sum(r.tokens for r in rows),
            steps_per_solved=(sum(r.steps for r in solved) / len(solved)) if solved else None,
            run_id=run_id,
            split=split,
            run=cond.run,
            round=round_,
            judged=int(sum(judged.values())) if self.judge else None,
            practice_tokens=cond.practice_tokens,
            practice_seconds=round(cond.practice_seconds, 3),
            distil_seconds=round(cond.distil_seconds, 3),
        )
        self.on_progress(name, 1)
        self.on_event(
            f"{name}: round {round_}, {split} {point.successes}/{point.n} ({cond.episodes} episodes trained; "
            f"practice so far {cond.practice_tokens:,} tokens, {cond.practice_seconds:.0f} s)"
        )
        return Evaluation(point, rewarded, judged, by_judge=self.judge is not None)

    def judged(self, run_id: str, rows: Sequence[Any], split: str) -> dict[str, float]:
        found = {}
        for row in rows:
            traj = self.store.trajectory(row.id)
            if traj is not None:
                found[row.task_id] = 1.0 if self.label(traj, split) else 0.0
        return found

    def gate(self, name: str, point: CurvePoint, outcomes: dict[str, float]) -> bool:
        """Keep the round's changes unless validation success fell beyond the tolerance (paired on the
        same tasks as the last kept state); roll them back otherwise. Reads validation only."""
        cond = self.state.conditions[name]
        learner = self.learners[name]
        keys = [k for k in outcomes if k in cond.accepted_outcomes]
        before = sum(cond.accepted_outcomes[k] for k in keys) / len(keys) if keys else 0.0
        after = sum(outcomes[k] for k in keys) / len(keys) if keys else 0.0
        what = learner.changes_since(cond.accepted_marker)
        if self.options.gate and learner.learns and after - before < -self.options.tolerance:
            reason = f"validation success fell from {before:.1%} to {after:.1%} on {len(keys)} paired tasks"
            learner.restore(cond.accepted_marker, f"gate {self.state.evolve_id} round {cond.round + 1}")
            point.note = f"{after - before:+.1%}"
            cond.rejected.append(
                {
                    "condition": cond.condition,
                    "run": cond.run,
                    "episodes": point.episodes,
                    "round": cond.round + 1,
                    "what": what,
                    "split": "validation",
                    "before": before,
                    "after": after,
                    "reason": reason,
                }
            )
            self.on_event(f"{name}: gate rolled back ({what}): {reason}")
            return False
        cond.accepted_marker = learner.marker()
        cond.accepted_outcomes = outcomes
        return True

    def plateau(self, cond: ConditionState, point: CurvePoint) -> None:
        if point.accepted and point.rate > cond.best_rate:
            cond.best_rate, cond.since_best = point.rate, 0
            return
        cond.since_best += 1
        if self.options.patience and cond.since_best >= self.options.patience:
            cond.stopped = f"plateau: no new best in {cond.since_best} evaluations"
            self.on_event(f"{cond.name}: {cond.stopped}")

    # --- plumbing -------------------------------------------------------------------------------------------
    def runner(self, learners: list[Learner], *, split: str, model: Model | None = None) -> Runner:
        cfg = self.config.model_copy(deep=True)
        cfg.run.samples = 1
        cfg.environment.split = split
        return build_runner(
            cfg,
            self.suite,
            self.workspace,
            model=model or self.model,
            store=self.store,
            learners=learners,
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
