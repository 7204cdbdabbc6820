"""Run one episode through the compiled graph, fresh or resumed from its last checkpoint."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from agentevo.agent.graph import Episode, build_graph, build_trajectory, run_action
from agentevo.records import Action, Step, Task, Trajectory

RECURSION_LIMIT = 10_000


def open_checkpointer(path: Path) -> SqliteSaver:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


@functools.cache
def compiled(checkpointer: Any) -> Any:
    return build_graph().compile(checkpointer=checkpointer)


def config_for(episode_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": episode_id}, "recursion_limit": RECURSION_LIMIT}


def run_episode(
    task: Task,
    ep: Episode,
    *,
    episode_id: str,
    run_id: str = "",
    checkpointer: Any = None,
) -> Trajectory:
    """Run (or resume) an episode and return its trajectory. Cancelled propagates, leaving a checkpoint;
    the caller deletes the checkpoint (`checkpointer.delete_thread`) once the trajectory is stored."""
    app = compiled(checkpointer) if checkpointer is not None else build_graph().compile()
    config = config_for(episode_id)
    snapshot = app.get_state(config) if checkpointer is not None else None
    durability = {"durability": "async"} if checkpointer is not None else {}
    if snapshot is not None and snapshot.values.get("outcome"):
        state = snapshot.values
    elif snapshot is not None and snapshot.next:
        restore(ep, snapshot.values)
        state = app.invoke(None, config, context=ep, **durability)
    else:
        start = {"episode_id": episode_id, "run_id": run_id, "task": task.model_dump(mode="json")}
        state = app.invoke(start, config, context=ep, **durability)
    return build_trajectory(
        state, ep, outcome=state["outcome"], reward=state["reward"], details=state.get("details", {})
    )


def restore(ep: Episode, values: dict[str, Any]) -> None:
    """Bring a fresh environment to where the interrupted episode was: reset, recall, replay the actions."""
    task = Task.model_validate(values["task"])
    if "observation" not in values:
        return  # interrupted before reset: the graph starts from reset anyway
    obs = ep.env.reset(task)
    if "messages" in values:
        ep.handlers = dict(ep.recaller.recall(task, obs).handlers)
    for raw in values.get("steps", []):
        step = Step.model_validate(raw)
        if step.action is not None:
            run_action(ep, Action.model_validate(step.action))
