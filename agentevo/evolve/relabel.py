"""Hindsight relabelling of failed practice: a failed training trajectory is replayed on sibling instances of
its task, and becomes a verified success of the first sibling whose replay the suite's own evaluator scores 1.

    spec      --relabel none | siblings:K   (at most K siblings tried per failed trajectory)
    siblings  train-side instances of the failed task's template, through the suite interface only:
                - suite.make_instances(template, K, seed) — os and local-web templates drawn with other
                  values (the seed derived from the failed episode's id)
                - a suite whose instances differ by the episode seed (Suite.seeded: MiniWoB++ pages) —
                  the same page at K other train seeds, all below TRAIN_SEEDS (the held-out splits' page
                  seeds start there)
              a sibling that is not split `train`, or that is a held-out (validation or test) instance
              under another id (same template, instruction and data), is never used
    replay    a fresh environment reset to the sibling; the failed trajectory's actions run again in
              order (no model call), the observations are the replay's own, and the episode stops where
              the sibling's episode ends (done, or the same limits). The environment then scores it as
              every episode is scored (`env.score`, agent.graph.finish_node)
    kept      the first sibling whose replay scores 1 (reward ≥ 1): that trajectory — the sibling's task,
              the replayed steps, outcome success, details["relabelled_from"] the original task id,
              details["relabelled"] what it cost — is stored in the training run like any training episode
              (sample RELABELLED_SAMPLES + the failed episode's sample) and learned from as a successful
              one. A replay that scores below 1 everywhere keeps nothing.

Only failed trajectories (outcome failure or limit, by the benchmark's reward) are relabelled; evaluations
never are, and label-free runs (--label judge) refuse --relabel: it needs the suite's evaluator.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langgraph.runtime import Runtime

from agentevo.agent.episode import merge, opening
from agentevo.agent.graph import (
    Episode,
    Turn,
    after_step,
    ended,
    finish_node,
    recall_all,
    run_action,
    trajectory_of,
)
from agentevo.benchmarks import Suite
from agentevo.errors import ConfigError
from agentevo.protocols import Learner
from agentevo.records import Step, Task, Trajectory
from agentevo.runs.runner import Runner, seeded
from agentevo.runs.store import TrajectoryStore

log = logging.getLogger(__name__)

TRAIN_SEEDS = 1_000_000  # a seeded suite's train page seeds stay below this (benchmarks.miniwob)
RELABELLED = ("failure", "limit")  # the outcomes worth relabelling; an error's steps are incomplete
# a kept success is stored under sample RELABELLED_SAMPLES + the failed episode's sample: a seeded suite's
# sibling has the failed task's own id, and (run, task, sample) names one episode
RELABELLED_SAMPLES = 1_000_000


@dataclass(frozen=True)
class RelabelSpec:
    mode: str = "none"  # none | siblings
    size: int = 0  # siblings tried at most per failed trajectory

    def __str__(self) -> str:
        return self.mode if self.mode == "none" else f"{self.mode}:{self.size}"


def parse_relabel(text: str, label: str = "reward") -> RelabelSpec:
    """The spec of --relabel; label-free runs refuse anything but none (relabelling needs the evaluator)."""
    mode, colon, size = text.strip().partition(":")
    if mode == "none" and not colon:
        return RelabelSpec()
    if mode == "siblings" and size.isdigit() and int(size) >= 1:
        if label != "reward":
            raise ConfigError(
                "--relabel needs the benchmark's evaluator to verify a replay; use --label reward or "
                "--relabel none"
            )
        return RelabelSpec(mode, int(size))
    raise ConfigError(f"--relabel must be none or siblings:K (a whole number ≥ 1), not {text!r}")


def derived(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "big")


@dataclass
class Siblings:
    """The train-side instances of a task's template that a replay may be scored on."""

    suite: Suite
    held_out: set[str] = field(default_factory=set)  # the instance keys of validation and test tasks

    def __post_init__(self) -> None:
        self.held_out = {instance_key(t) for t in self.suite.tasks("all") if t.split != "train"}

    def of(self, traj: Trajectory, k: int) -> list[Task]:
        task = traj.task
        if task.split != "train" or not task.template_id:
            return []
        if self.suite.make_instances is not None:
            found = self.suite.make_instances(task.template_id, k, derived("relabel", traj.id) % TRAIN_SEEDS)
        elif self.suite.seeded:
            own = int(task.meta.get("seed", 0))
            seeds = [derived("relabel", traj.id, i) % TRAIN_SEEDS for i in range(k + 1)]
            found = [with_seed(task, s) for s in dict.fromkeys(seeds) if s != own][:k]
        else:
            return []
        return [t for t in found if self.usable(t, task)][:k]

    def usable(self, sibling: Task, task: Task) -> bool:
        """Train side only: never a held-out instance, nor a train copy of one (same instruction and data)."""
        if sibling.split != "train" or sibling.template_id != task.template_id:
            return False
        if self.suite.seeded:
            return 0 <= int(sibling.meta.get("seed", -1)) < TRAIN_SEEDS
        return instance_key(sibling) not in self.held_out


RUNTIME_META = ("seed", "run_id", "episode_id", "fresh")  # what an episode or a draw adds to a task's meta


def instance_key(task: Task) -> str:
    """What makes an instance: its template, instruction and data — not its id, split or episode."""
    meta = {k: v for k, v in task.meta.items() if k not in RUNTIME_META}
    return json.dumps([task.template_id, task.instruction, meta], sort_keys=True, default=str)


def with_seed(task: Task, seed: int) -> Task:
    return task.model_copy(update={"meta": {**task.meta, "seed": seed}})


def replay(task: Task, ep: Episode, steps: Sequence[Step], *, episode_id: str, run_id: str) -> Trajectory:
    """The steps' actions once more in an environment reset to `task`, with the observations they get now,
    up to where the episode ends; then scored as every episode is. The model is never asked."""
    obs = ep.env.reset(task)
    memory = recall_all(ep.learners, task, obs)
    turn = Turn(episode=ep, handlers=dict(memory.handlers))
    state = opening(task, obs, memory, ep, episode_id, run_id)
    for step in steps:
        if ended(state):
            break
        seen = run_action(turn, step.action) if step.action is not None else state.observation
        step = step.model_copy(update={"index": len(state.steps), "observation": seen})
        state = state.model_copy(update=merge(state, after_step(state, step, ep)))
    state = state.model_copy(update=finish_node(state, Runtime(context=turn)))
    return trajectory_of(state, ep, outcome=state.outcome)


@dataclass
class Relabeller:
    """Relabels the failed trajectories of one training run (the loop's hook after each labelled episode)."""

    spec: RelabelSpec
    siblings: Siblings
    store: TrajectoryStore
    make_episode: Callable[[int | None], Episode]  # a fresh-environment episode with this seed
    counts: dict[str, int] = field(default_factory=dict)  # failed, replays, env_steps, relabelled

    def attempt(self, traj: Trajectory, learn: Callable[[Trajectory], None]) -> Trajectory | None:
        """Try the siblings of one failed trajectory; the first replay scored 1 is stored and learned."""
        if traj.outcome not in RELABELLED or not any(s.action is not None for s in traj.steps):
            return None
        sample = int(traj.id.rsplit("#", 1)[1]) if "#" in traj.id else 0
        self.add("failed", 1)
        for n, sibling in enumerate(self.siblings.of(traj, self.spec.size), start=1):
            eid = f"{traj.run_id}:{sibling.id}~relabelled#{sample}"
            seed = int(sibling.meta.get("seed", traj.task.meta.get("seed", 0)))
            task = seeded(sibling, seed, traj.run_id, eid)
            ep = self.make_episode(seed)
            try:
                done = replay(task, ep, traj.steps, episode_id=eid, run_id=traj.run_id)
            except Exception:  # a sibling whose environment fails is skipped; practice goes on
                log.warning("replaying %s on %s failed", traj.id, sibling.id, exc_info=True)
                self.add("replays", 1)
                continue
            self.add("replays", 1)
            self.add("env_steps", sum(s.action is not None for s in done.steps))
            if done.reward >= 1.0 and done.outcome == "success":
                kept = self.keep(done, traj, n)
                self.store.start_episode(
                    kept.id, kept.run_id, kept.task, RELABELLED_SAMPLES + sample, kept.model
                )
                self.store.save_trajectory(kept, sample=RELABELLED_SAMPLES + sample)
                self.add("relabelled", 1)
                learn(kept)
                return kept
        return None

    def keep(self, done: Trajectory, traj: Trajectory, tried: int) -> Trajectory:
        details = {
            **done.details,
            "relabelled_from": traj.task.id,
            "relabelled": {"from_episode": traj.id, "siblings_tried": tried, "spec": str(self.spec)},
        }
        return done.model_copy(update={"details": details})

    def add(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def for_runner(
    spec: RelabelSpec, runner: Runner, learners: Sequence[Learner], counts: dict[str, int]
) -> Relabeller | None:
    """The training run's relabeller (None for --relabel none): replays reset an environment of the
    runner's own (made as its workers' are, closed with them), recall from `learners` (frozen) and add
    their figures to `counts`."""
    if spec.mode == "none":
        return None
    for key in ("failed", "replays", "env_steps", "relabelled"):
        counts.setdefault(key, 0)

    def make(seed: int | None) -> Episode:
        return Episode(
            env=runner.env(),
            model=runner.model,
            limits=runner.config.limits,
            learners=learners,
            prompt_set=runner.suite.prompt_set,
            seed=seed,
        )

    return Relabeller(spec, Siblings(runner.suite), runner.store, make, counts)
