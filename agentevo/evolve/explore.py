"""Search while practising: a training episode that tries several sampled actions at each step, follows the
promising branches, and plays back the one that reached the goal as an ordinary trajectory.

    spec        --explore none | beam:K | tree:BUDGET
    branch      a prefix of steps. The environment reaches it again by reset(task) — the same seed gives the
                same instance: MiniWoB++ seeds, a local site's reset, a fresh sandbox — and replaying the
                prefix's actions
    candidates  k replies sampled from the model at a branch, each with a seed of its own (the first with the
                episode's seed, the reply an unsearched episode would get), each parsed into an action and
                stepped once: one child branch per distinct action
    ranking     a branch that ends is scored at once: success — the environment's reward, or the judge's
                verdict in label-free runs — stops the search. Open branches rank by (the observation's
                reward, except in label-free runs; no error; a changed observation), deeper first on ties
    budget      beam:K keeps the K best open branches at each depth and samples K candidates at each;
                tree:BUDGET expands the best open branch first (WIDTH candidates) while the environment
                steps it costs — replays included — stay within BUDGET
    result      the success, else the best branch found, played once more from a clean reset so that the
                trajectory holds the real observations (an unfinished branch then goes on as an ordinary
                episode); details["explored"] says what the search did

Searched episodes report no steps as they go: one that is interrupted is searched again from the start
(same seeds) when its run resumes. Evaluations never search; only the evolution loop's training runner
plays its episodes through `Explorer.episode`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langgraph.runtime import Runtime

from agentevo.agent.episode import RECURSION_LIMIT, compiled, merge, opening, run_episode
from agentevo.agent.graph import (
    Episode,
    EpisodeState,
    NoHooks,
    Pending,
    Turn,
    act_node,
    after_step,
    ended,
    finish_node,
    recall_all,
    run_action,
    step_node,
    trajectory_of,
)
from agentevo.agent.parsing import action_key
from agentevo.errors import ConfigError
from agentevo.protocols import Learner
from agentevo.records import Step, Task, Trajectory

WIDTH = 3  # candidates sampled at each branch a tree search expands

Value = tuple[float, bool, bool]  # (observation reward, no error, observation changed)


@dataclass(frozen=True)
class ExploreSpec:
    mode: str = "none"  # none | beam | tree
    size: int = 0  # beam: K; tree: the budget in environment steps

    @property
    def width(self) -> int:
        return self.size if self.mode == "beam" else WIDTH

    def __str__(self) -> str:
        return self.mode if self.mode == "none" else f"{self.mode}:{self.size}"


def parse_explore(text: str) -> ExploreSpec:
    mode, colon, size = text.strip().partition(":")
    if mode == "none" and not colon:
        return ExploreSpec()
    if mode in ("beam", "tree") and size.isdigit() and int(size) >= 1:
        return ExploreSpec(mode, int(size))
    raise ConfigError(f"--explore must be none, beam:K or tree:BUDGET (whole numbers ≥ 1), not {text!r}")


def candidate_seed(seed: int | None, i: int) -> int | None:
    """The first candidate samples with the episode's own seed; the others with seeds derived from it."""
    if i == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:4], "big")


@dataclass
class Branch:
    state: EpisodeState
    serial: int
    value: Value = (0.0, False, False)
    succeeded: bool = False

    @property
    def ended(self) -> bool:
        return ended(self.state)

    @property
    def rank(self) -> tuple[Value, int, int]:
        return self.value, len(self.state.steps), -self.serial


def progress(parent: Branch, step: Step, *, use_reward: bool) -> Value:
    """The cheap progress signal of one step: its reward (unless label-free), no error, a changed page."""
    obs = step.observation
    reward = float(obs.reward or 0.0) if use_reward else 0.0
    ok = step.action is not None and obs.error is None
    return reward, ok, obs.text != parent.state.observation.text


@dataclass
class Search:
    """One searched episode: the branches it made and what they cost."""

    spec: ExploreSpec
    task: Task
    ep: Episode  # reports no steps; recalls from the search's learners
    succeeded: Callable[[Trajectory], bool]
    use_reward: bool
    episode_id: str = ""
    run_id: str = ""
    env_steps: int = 0
    candidates: int = 0
    tokens: int = 0
    branches: list[Branch] = field(default_factory=list)
    found: Branch | None = None
    exhausted: bool = False
    at: int = -1  # the branch the environment is in now
    handlers: dict[str, Any] = field(default_factory=dict)  # the offered tools, from the one recall

    def run(self) -> Branch:
        root = self.start()
        if self.spec.mode == "beam":
            self.beam(root)
        else:
            self.tree(root)
        return self.found or max(self.branches, key=lambda b: (b.value, not b.ended, *b.rank[1:]))

    def beam(self, root: Branch) -> None:
        level = [root]
        while level and self.found is None and not self.exhausted:
            children: list[Branch] = []
            for branch in level:
                children += self.expand(branch)
                if self.found is not None:
                    return
            level = sorted((c for c in children if not c.ended), key=lambda b: b.rank, reverse=True)
            level = level[: self.spec.size]

    def tree(self, root: Branch) -> None:
        frontier = [root]
        while frontier and self.found is None and not self.exhausted:
            branch = max(frontier, key=lambda b: b.rank)
            frontier.remove(branch)
            frontier += [c for c in self.expand(branch) if not c.ended]

    # --- one branch -----------------------------------------------------------------------------------
    def start(self) -> Branch:
        obs = self.ep.env.reset(self.task)
        memory = recall_all(self.ep.learners, self.task, obs)
        self.handlers = dict(memory.handlers)
        state = opening(self.task, obs, memory, self.ep, self.episode_id, self.run_id)
        root = self.add(state, value=(0.0, False, False))
        self.at = root.serial
        return root

    def add(self, state: EpisodeState, *, value: Value, succeeded: bool = False) -> Branch:
        branch = Branch(state=state, serial=len(self.branches), value=value, succeeded=succeeded)
        self.branches.append(branch)
        return branch

    def runtime(self, seed: int | None = None) -> Runtime[Turn]:
        return Runtime(context=Turn(episode=replace(self.ep, seed=seed), handlers=self.handlers))

    def expand(self, branch: Branch) -> list[Branch]:
        """Sample the candidates at a branch and step each distinct one in the environment."""
        children: list[Branch] = []
        tried: set[str] = set()
        for i in range(self.spec.width):
            pending = self.sample(branch, candidate_seed(self.ep.seed, i))
            key = action_key(pending.action) if pending.action is not None else ""
            if key in tried:
                continue
            tried.add(key)
            if not self.affordable(branch, pending):
                self.exhausted = True
                break
            children.append(child := self.step(branch, pending))
            if child.succeeded:
                self.found = child
                break
        return children

    def sample(self, branch: Branch, seed: int | None) -> Pending:
        pending: Pending = act_node(branch.state, self.runtime(seed))["pending"]
        self.candidates += 1
        self.tokens += pending.reply.tokens_in + pending.reply.tokens_out
        return pending

    def affordable(self, branch: Branch, pending: Pending) -> bool:
        if self.spec.mode != "tree":
            return True
        return self.env_steps + self.cost(branch) + (pending.action is not None) <= self.spec.size

    def cost(self, branch: Branch) -> int:
        """Environment steps to bring the environment to a branch (none when it is there already)."""
        return 0 if self.at == branch.serial else sum(s.action is not None for s in branch.state.steps)

    def restore(self, branch: Branch) -> None:
        if self.at == branch.serial:
            return
        self.ep.env.reset(self.task)
        turn = self.runtime().context
        for step in branch.state.steps:
            if step.action is not None:
                run_action(turn, step.action)
                self.env_steps += 1
        self.at = branch.serial

    def step(self, branch: Branch, pending: Pending) -> Branch:
        """The child branch one candidate makes; one that ends is scored while the environment is in it."""
        self.restore(branch)
        runtime = self.runtime()
        before = branch.state.model_copy(update={"pending": pending})
        update = step_node(before, runtime)
        self.env_steps += pending.action is not None
        state = branch.state.model_copy(update=merge(branch.state, update))
        value = progress(branch, state.steps[-1], use_reward=self.use_reward)
        succeeded = False
        if ended(state):
            state = state.model_copy(update=finish_node(state, runtime))
            succeeded = self.succeeded(trajectory_of(state, self.ep, outcome=state.outcome))
        child = self.add(state, value=value, succeeded=succeeded)
        self.at = child.serial
        return child

    def report(self, best: Branch) -> dict[str, Any]:
        """What the search did, as details["explored"]; extra_tokens: those of the sampled replies that are
        not steps of the branch played back (the played-back steps count in the trajectory's own tokens)."""
        kept = sum(s.tokens_in + s.tokens_out for s in best.state.steps)
        return {
            "mode": str(self.spec),
            "candidates": self.candidates,
            "branches": len(self.branches) - 1,
            "env_steps": self.env_steps,
            "found": self.found is not None,
            "extra_tokens": max(0, self.tokens - kept),
        }


def replay(task: Task, ep: Episode, steps: Sequence[Step], *, episode_id: str, run_id: str) -> Trajectory:
    """A branch played once more from a clean reset: its actions, the observations they get now; an
    unfinished branch goes on as an ordinary episode."""
    obs = ep.env.reset(task)
    memory = recall_all(ep.learners, task, obs)
    turn = Turn(episode=ep, handlers=dict(memory.handlers))
    state = opening(task, obs, memory, ep, episode_id, run_id)
    for step in steps:
        seen = run_action(turn, step.action) if step.action is not None else state.observation
        step = step.model_copy(update={"observation": seen})
        state = state.model_copy(update=merge(state, after_step(state, step, ep)))
    final = EpisodeState.model_validate(
        compiled().invoke(state, {"recursion_limit": RECURSION_LIMIT}, context=turn)
    )
    return trajectory_of(final, ep, outcome=final.outcome)


@dataclass(frozen=True)
class Explorer:
    """Plays training episodes with search (the runner's `play`); evaluations keep `run_episode`."""

    spec: ExploreSpec
    learners: Sequence[Learner] | None = None  # what branches recall from (frozen: no usage counted)
    judge: Callable[[Trajectory], bool] | None = None  # label-free: the judge's verdict on a branch

    def episode(
        self, task: Task, ep: Episode, *, episode_id: str, run_id: str = "", done: Sequence[Step] = ()
    ) -> Trajectory:
        if done:  # steps stored by an unsearched attempt: resume it as it was
            return run_episode(task, ep, episode_id=episode_id, run_id=run_id, done=done)
        quiet = replace(ep, hooks=NoHooks())
        search = Search(
            spec=self.spec,
            task=task,
            ep=replace(quiet, learners=ep.learners if self.learners is None else self.learners),
            succeeded=self.judge or (lambda traj: traj.succeeded),
            use_reward=self.judge is None,
            episode_id=episode_id,
            run_id=run_id,
        )
        best = search.run()
        final = replay(task, quiet, best.state.steps, episode_id=episode_id, run_id=run_id)
        return final.model_copy(update={"details": {**final.details, "explored": search.report(best)}})
