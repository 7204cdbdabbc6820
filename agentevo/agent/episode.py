"""One episode, fresh or resumed: reset, recall, (replay), then the graph to the end.

reset     env.reset(task)
recall    every learner's offer → demonstration turns, notes in the task message, extra actions
replay    on resume: the stored steps' actions run again in the fresh environment, their turns rejoin
          the conversation exactly as the model saw them
graph     act ⇄ step → finish (agent.graph)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from agentevo.agent import prompts
from agentevo.agent.graph import (
    Episode,
    EpisodeState,
    Turn,
    after_step,
    build_graph,
    recall_all,
    render_observation,
    run_action,
    trajectory_of,
)
from agentevo.protocols import Recollection
from agentevo.records import Message, Observation, Step, Task, Trajectory

RECURSION_LIMIT = 10_000


@functools.cache
def compiled() -> Any:
    return build_graph().compile()


def run_episode(
    task: Task, ep: Episode, *, episode_id: str, run_id: str = "", done: Sequence[Step] = ()
) -> Trajectory:
    """Run an episode to its end and return its trajectory; `done` are the steps an interrupted attempt
    already took (from the steps table), replayed before the model is asked again. Cancelled propagates;
    the steps taken so far are stored by the hooks, so the episode can resume."""
    obs = ep.env.reset(task)
    memory = recall_all(ep.learners, task, obs)
    turn = Turn(episode=ep, handlers=dict(memory.handlers))
    state = opening(task, obs, memory, ep, episode_id, run_id)
    for step in done:
        if step.action is not None:
            run_action(turn, step.action)  # the environment reaches the state the step left it in
        state = state.model_copy(update=merge(state, after_step(state, step, ep)))
    final = EpisodeState.model_validate(
        compiled().invoke(state, {"recursion_limit": RECURSION_LIMIT}, context=turn)
    )
    return trajectory_of(final, ep, outcome=final.outcome)


def merge(state: EpisodeState, update: dict[str, Any]) -> dict[str, Any]:
    """An update as the graph applies it: steps are appended (their reducer), everything else replaced."""
    return {**update, "steps": [*state.steps, *update["steps"]]}


def opening(
    task: Task, obs: Observation, memory: Recollection, ep: Episode, episode_id: str, run_id: str
) -> EpisodeState:
    """The state before the first step: system prompt, demonstrations (built-in, then recalled), and the
    task message with the notes and offered tools."""
    demos = (prompts.demonstrations(ep.kind) if ep.builtin_demos else []) + memory.demonstrations
    messages: list[Message] = [{"role": "system", "content": prompts.render(ep.kind, "system.md")}]
    for user, assistant in demos:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    tools_text = prompts.render(ep.kind, "tools.md", tools=memory.tools)
    messages.append({"role": "user", "content": task_message(ep, task, obs, memory.notes, tools_text)})
    return EpisodeState(
        episode_id=episode_id,
        run_id=run_id,
        task=task,
        observation=obs,
        messages=messages,
        tools=list(memory.tools),
        retrieved=list(memory.retrieved),
        prompt=prompt_layout(ep, task, obs, memory, messages, tools_text),
    )


def task_message(ep: Episode, task: Task, obs: Observation, notes: Sequence[str], tools_text: str) -> str:
    observation = render_observation(ep.kind, obs)
    return prompts.render(
        ep.kind, "task.md", task=task, observation=observation, notes=list(notes), tools_text=tools_text
    )


def prompt_layout(
    ep: Episode, task: Task, obs: Observation, memory: Recollection, messages: list[Message], tools_text: str
) -> dict[str, Any]:
    """Where recalled experience sits in the messages, so an export can strip it again."""
    bare = messages[-1]["content"]
    if memory.notes:
        bare = task_message(ep, task, obs, [], tools_text)
    return {
        "builtin_demos": (len(messages) - 2) // 2 - len(memory.demonstrations),
        "recalled_demos": len(memory.demonstrations),
        "notes": list(memory.notes),
        "tools": [t.model_dump() for t in memory.tools],
        "task_message": len(messages) - 1,
        "task_message_without_notes": bare,
    }
