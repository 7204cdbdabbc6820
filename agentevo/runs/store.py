"""The trajectory store: runs, episodes and steps in SQL through SQLModel (SQLite by default, Postgres too).

Every step is written as it happens and every trajectory when its episode ends, each in its own
transaction, so what has been reported survives a crash. Writes are upserts keyed by episode id and step
index: a resumed episode that repeats a step overwrites it instead of duplicating it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select

from agentevo.db import make_engine
from agentevo.errors import StoreError
from agentevo.records import RunManifest, Step, Task, Trajectory, utcnow
from agentevo.text import first_line, safe_url


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    status: str = "running"  # running | interrupted | done | failed
    model: str = ""
    suite: str = ""
    split: str = ""
    kind: str = "run"  # run | evolve | eval
    manifest: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class EpisodeRow(SQLModel, table=True):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("run_id", "task_id", "sample"),)
    id: str = Field(primary_key=True)
    run_id: str = Field(index=True)
    task_id: str
    sample: int = 0
    suite: str = Field(default="", index=True)
    template_id: str = ""
    status: str = "running"  # running | done
    outcome: str = ""
    reward: float = 0.0
    steps: int = 0
    tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    model: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    task: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    trajectory: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class StepRow(SQLModel, table=True):
    __tablename__ = "steps"
    episode_id: str = Field(primary_key=True)
    index: int = Field(primary_key=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


def default_url(workspace: Path) -> str:
    return f"sqlite:///{workspace / 'runs' / 'agentevo.db'}"


class TrajectoryStore:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            SQLModel.metadata.create_all(
                self.engine, tables=[RunRow.__table__, EpisodeRow.__table__, StepRow.__table__]
            )
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the trajectory store {safe_url(url)}: {first_line(exc)}") from None
        self._lock = threading.Lock()

    @classmethod
    def for_workspace(cls, workspace: Path, url: str | None = None) -> TrajectoryStore:
        return cls(url or default_url(workspace))

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def write(self, rows: Iterable[SQLModel]) -> None:
        with self._lock, self.session() as s:
            try:
                for row in rows:
                    s.merge(row)
                s.commit()
            except OperationalError as exc:
                raise StoreError(f"trajectory store write failed: {first_line(exc)}") from None

    # --- runs -------------------------------------------------------------------------------------------
    def create_run(self, manifest: RunManifest, kind: str = "run") -> None:
        self.write(
            [
                RunRow(
                    id=manifest.run_id,
                    model=manifest.model,
                    suite=manifest.suite,
                    split=manifest.split,
                    kind=kind,
                    manifest=manifest.model_dump(mode="json"),
                )
            ]
        )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._lock, self.session() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run {run_id!r}")
            row.status = status
            row.updated_at = utcnow()
            if summary is not None:
                row.summary = summary
            s.add(row)
            s.commit()

    def get_run(self, run_id: str) -> RunRow | None:
        with self.session() as s:
            return s.get(RunRow, run_id)

    def list_runs(self, limit: int = 50) -> list[RunRow]:
        with self.session() as s:
            return list(s.exec(select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)))  # type: ignore[attr-defined]

    def manifest(self, run_id: str) -> RunManifest:
        row = self.get_run(run_id)
        if row is None:
            raise StoreError(f"no run {run_id!r} in {safe_url(self.url)}")
        return RunManifest.model_validate(row.manifest)

    # --- episodes and steps ---------------------------------------------------------------------------
    def start_episode(self, episode_id: str, run_id: str, task: Task, sample: int, model: str) -> None:
        with self._lock, self.session() as s:
            if s.get(EpisodeRow, episode_id) is None:
                s.add(
                    EpisodeRow(
                        id=episode_id,
                        run_id=run_id,
                        task_id=task.id,
                        sample=sample,
                        suite=task.suite,
                        template_id=task.template_id,
                        model=model,
                        task=task.model_dump(mode="json"),
                    )
                )
                s.commit()

    def add_step(self, episode_id: str, step: Step) -> None:
        self.write([StepRow(episode_id=episode_id, index=step.index, data=step.model_dump(mode="json"))])

    def save_trajectory(self, traj: Trajectory, sample: int = 0) -> None:
        rows: list[SQLModel] = [
            StepRow(episode_id=traj.id, index=s.index, data=s.model_dump(mode="json")) for s in traj.steps
        ]
        rows.append(
            EpisodeRow(
                id=traj.id,
                run_id=traj.run_id,
                task_id=traj.task.id,
                sample=sample,
                suite=traj.task.suite,
                template_id=traj.task.template_id,
                status="done",
                outcome=traj.outcome,
                reward=traj.reward,
                steps=len(traj.steps),
                tokens=traj.tokens,
                cost=traj.cost,
                seconds=traj.seconds,
                model=traj.model,
                task=traj.task.model_dump(mode="json"),
                trajectory=traj.model_dump(mode="json"),
            )
        )
        self.write(rows)

    def episodes(self, run_id: str) -> list[EpisodeRow]:
        with self.session() as s:
            q = select(EpisodeRow).where(EpisodeRow.run_id == run_id).order_by(EpisodeRow.created_at)
            return list(s.exec(q))

    def done_keys(self, run_id: str) -> set[tuple[str, int]]:
        return {(e.task_id, e.sample) for e in self.episodes(run_id) if e.status == "done"}

    def steps(self, episode_id: str) -> list[Step]:
        with self.session() as s:
            q = select(StepRow).where(StepRow.episode_id == episode_id).order_by(StepRow.index)
            return [Step.model_validate(r.data) for r in s.exec(q)]

    def trajectory(self, episode_id: str) -> Trajectory | None:
        with self.session() as s:
            row = s.get(EpisodeRow, episode_id)
        if row is None or row.trajectory is None:
            return None
        return Trajectory.model_validate(row.trajectory)

    def trajectories(
        self, run_ids: Sequence[str] = (), suite: str | None = None, outcome: str | None = None
    ) -> Iterator[Trajectory]:
        with self.session() as s:
            q = select(EpisodeRow).where(EpisodeRow.status == "done")
            if run_ids:
                q = q.where(EpisodeRow.run_id.in_(list(run_ids)))  # type: ignore[attr-defined]
            if suite:
                q = q.where(EpisodeRow.suite == suite)
            if outcome:
                q = q.where(EpisodeRow.outcome == outcome)
            rows = list(s.exec(q.order_by(EpisodeRow.created_at)))
        for row in rows:
            if row.trajectory is not None:
                yield Trajectory.model_validate(row.trajectory)

    def ping(self) -> None:
        with self.session() as s:
            s.exec(text("SELECT 1"))  # type: ignore[call-overload]
