"""The runner: episodes of a suite in parallel (a thread pool, one environment per worker), each step and
trajectory stored as it happens, a manifest that pins the run, a summary at the end.

Learning plugs in at one point: the runner's `learners` (memory, tools, …) are asked what each episode
should be shown before it starts, and — on the one "episode finished" channel, `episode_ended` — learn
from each stored trajectory (unless the caller replaces that channel with `on_episode_end`, as the
evolution loop does to label trajectories first).

One failing episode never ends a run: it is stored with outcome `error`. Ctrl-C stops every episode at its
next step boundary and leaves the run resumable (`agentevo run --resume RUN_ID`): an interrupted episode
replays the steps it had stored.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.benchmarks import EnvContext, Suite
from agentevo.config import RunConfig
from agentevo.errors import Cancelled
from agentevo.protocols import Environment, Learner, Model
from agentevo.records import RunManifest, Step, Task, Trajectory
from agentevo.runs.store import TrajectoryStore
from agentevo.runs.summary import RunSummary, summarise

log = logging.getLogger(__name__)

PACKAGES = (
    "agentevo",
    "langgraph",
    "litellm",
    "chromadb",
    "transformers",
    "torch",
    "playwright",
    "sqlmodel",
    "sentence-transformers",
    "peft",
)


def new_run_id(suite: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9]+', '-', suite)}-{uuid.uuid4().hex[:6]}"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def episode_id(run_id: str, task_id: str, sample: int) -> str:
    return f"{run_id}:{task_id}#{sample}"


def seeded(task: Task, seed: int, run_id: str, eid: str) -> Task:
    """The task as one episode sees it: with its seed, run id and episode id."""
    return task.model_copy(update={"meta": {**task.meta, "seed": seed, "run_id": run_id, "episode_id": eid}})


class StoreHooks:
    """Writes every step to the store the moment it is taken."""

    def __init__(self, store: TrajectoryStore) -> None:
        self.store = store

    def on_step(self, episode_id: str, step: Step) -> None:
        self.store.add_step(episode_id, step)


@dataclass
class Runner:
    config: RunConfig
    workspace: Path
    store: TrajectoryStore
    model: Model
    suite: Suite
    learners: Sequence[Learner] = ()
    console: Console = field(default_factory=lambda: Console(stderr=True))
    show_progress: bool = True
    cancel: threading.Event = field(default_factory=threading.Event)
    on_episode_end: Callable[[Trajectory], None] | None = None  # replaces the learners' learning
    play: Callable[..., Trajectory] = run_episode  # how one episode runs (evolve's training: with search)

    def __post_init__(self) -> None:
        self.runs_dir = self.workspace / "runs"
        self._local = threading.local()
        self._envs: list[Environment] = []
        self._envs_lock = threading.Lock()

    # --- starting and resuming ------------------------------------------------------------------------
    def start(
        self,
        tasks: Sequence[Task],
        *,
        command: str = "",
        kind: str = "run",
        extra: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> RunManifest:
        cfg = self.config
        manifest = RunManifest(
            run_id=run_id or new_run_id(self.suite.name),
            model=self.model.name,
            suite=self.suite.name,
            split=cfg.environment.split,
            config=cfg.model_dump(mode="json"),
            config_hash=cfg.digest(),
            seeds=tuple(cfg.run.seed + i for i in range(cfg.run.samples)),
            task_ids=tuple(t.id for t in tasks),
            evaluator=dict(cfg.environment.options),
            packages=package_versions(),
            command=command,
            **(extra or {}),
        )
        run_dir = self.runs_dir / manifest.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        self.store.create_run(manifest, kind=kind)
        (run_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
        return manifest

    def execute(self, manifest: RunManifest, tasks: Sequence[Task]) -> RunSummary:
        """Run every (task, seed) of the manifest that has no stored trajectory yet."""
        by_id = {t.id: t for t in tasks}
        done = self.store.done_keys(manifest.run_id)
        todo = [
            (by_id[tid], i, seed)
            for tid in manifest.task_ids
            if tid in by_id
            for i, seed in enumerate(manifest.seeds)
            if (tid, i) not in done
        ]
        started = time.monotonic()
        status = "done"
        try:
            self.run_all(
                manifest.run_id, todo, total=len(manifest.task_ids) * len(manifest.seeds), already=len(done)
            )
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            self.close_envs()
        rows = self.store.episodes(manifest.run_id)
        summary = summarise(
            manifest.run_id, manifest.suite, manifest.model, status, rows, time.monotonic() - started
        )
        self.store.finish_run(manifest.run_id, status, summary.to_json())
        (self.runs_dir / manifest.run_id / "summary.json").write_text(json.dumps(summary.to_json(), indent=2))
        return summary

    # --- the pool -------------------------------------------------------------------------------------
    def run_all(self, run_id: str, todo: list[tuple[Task, int, int]], *, total: int, already: int) -> None:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[wins]} solved"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.show_progress,
            transient=False,
        )
        wins = sum(r.outcome == "success" for r in self.store.episodes(run_id) if r.status == "done")
        with progress, cf.ThreadPoolExecutor(max_workers=self.config.run.concurrency) as pool:
            bar = progress.add_task(self.suite.name, total=total, completed=already, wins=wins)
            futures = {pool.submit(self.one, run_id, t, i, s): t for t, i, s in todo}
            try:
                pending = set(futures)
                while pending:
                    finished, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        traj = fut.result()
                        if traj is not None:
                            wins += traj.succeeded
                            progress.update(bar, advance=1, wins=wins)
            except KeyboardInterrupt:
                self.cancel.set()
                for fut in futures:
                    fut.cancel()
                cf.wait(futures)
                raise

    def one(self, run_id: str, task: Task, sample: int, seed: int) -> Trajectory | None:
        if self.cancel.is_set():
            return None
        eid = episode_id(run_id, task.id, sample)
        task = seeded(task, seed, run_id, eid)
        self.store.start_episode(eid, run_id, task, sample, self.model.name)
        try:
            env = self.env()
            ep = Episode(
                env=env,
                model=self.model,
                limits=self.config.limits,
                learners=self.learners,
                hooks=StoreHooks(self.store),
                cancel=self.cancel,
                prompt_set=self.suite.prompt_set,
                seed=seed,
            )
            done = self.store.steps(eid)  # an interrupted attempt's steps, replayed before going on
            traj = self.play(task, ep, episode_id=eid, run_id=run_id, done=done)
        except Cancelled:
            return None
        except Exception as exc:  # one broken episode must not end the run
            log.exception("episode %s failed", eid)
            traj = Trajectory(
                id=eid,
                run_id=run_id,
                task=task,
                outcome="error",
                model=self.model.name,
                error=f"{type(exc).__name__}: {exc}",
                steps=tuple(self.store.steps(eid)),
            )
            self.discard_env()
        self.store.save_trajectory(traj, sample=sample)
        self.episode_ended(traj)
        return traj

    def episode_ended(self, traj: Trajectory) -> None:
        """The one "episode finished" channel: every learner learns from the stored trajectory, in order
        (or the caller's `on_episode_end` takes it instead)."""
        if self.on_episode_end is not None:
            self.on_episode_end(traj)
            return
        for learner in self.learners:
            learner.learn(traj)

    # --- one environment per worker thread ------------------------------------------------------------
    def env(self) -> Environment:
        env = getattr(self._local, "env", None)
        if env is None:
            worker = len(self._envs)
            ctx = EnvContext(
                config=self.config,
                workspace=self.workspace,
                run_dir=self.runs_dir,
                worker=worker,
                options=dict(self.config.environment.options),
            )
            env = self.suite.make_env(ctx)
            self._local.env = env
            with self._envs_lock:
                self._envs.append(env)
        return env

    def discard_env(self) -> None:
        env = getattr(self._local, "env", None)
        self._local.env = None
        if env is not None:
            with self._envs_lock:
                if env in self._envs:
                    self._envs.remove(env)
            try:
                env.close()
            except Exception:  # a broken environment may fail to close too
                log.warning("closing a failed environment raised", exc_info=True)

    def close_envs(self) -> None:
        with self._envs_lock:
            envs, self._envs = self._envs, []
        for env in envs:
            try:
                env.close()
            except Exception:
                log.warning("closing an environment raised", exc_info=True)
