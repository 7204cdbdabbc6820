"""The agent as a LangGraph state graph: reset → recall → act ⇄ step → finish.

    reset    env.reset(task)
    recall   memory and tools (through a Recaller) become demonstration turns, notes and extra actions
    act      one model call; the reply is parsed into an action (or feedback when it cannot be)
    step     the action runs in the environment (or an offered tool runs); the observation is appended
    finish   the environment scores the episode; the trajectory is handed to the hooks

State is checkpointed after every node (SQLite), so an interrupted episode resumes where it stopped: the
runner resets the environment, replays the recorded actions, and lets the graph continue. Environment,
model, recaller and hooks are run-time context, never part of the saved state.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentevo.agent import prompts
from agentevo.agent.parsing import action_key, parse_tool_call
from agentevo.config import LimitsConfig
from agentevo.errors import Cancelled, FormatError, Interrupt, ModelError
from agentevo.protocols import Environment, Hooks, Model, Recaller, Recollection
from agentevo.records import Action, Message, ModelReply, Observation, Step, Task, ToolSpec, Trajectory


class EpisodeState(TypedDict, total=False):
    episode_id: str
    run_id: str
    task: dict[str, Any]
    observation: dict[str, Any]
    messages: list[Message]
    steps: Annotated[list[dict[str, Any]], operator.add]
    pending: dict[str, Any] | None
    retrieved: list[str]
    tools: list[dict[str, Any]]
    format_errors: int
    tokens: int
    elapsed: float
    stop_reason: str
    outcome: str
    reward: float
    details: dict[str, Any]
    prompt: dict[str, Any]


class NoHooks:
    def on_step(self, episode_id: str, step: Step) -> None:
        pass

    def on_episode_end(self, trajectory: Trajectory) -> None:
        pass


class NoRecall:
    def recall(self, task: Task, observation: Observation) -> Recollection:
        return Recollection()

    def on_episode_end(self, trajectory: Trajectory) -> None:
        pass


@dataclass
class Episode:
    """The run-time context of one episode (not checkpointed)."""

    env: Environment
    model: Model
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    recaller: Recaller = field(default_factory=NoRecall)
    hooks: Hooks = field(default_factory=NoHooks)
    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_set: str = ""
    seed: int | None = None
    builtin_demos: bool = True
    handlers: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def kind(self) -> str:
        return self.prompt_set or self.env.kind


def reset_node(state: EpisodeState, runtime: Runtime[Episode]) -> dict[str, Any]:
    obs = runtime.context.env.reset(Task.model_validate(state["task"]))
    return {"observation": obs.model_dump(), "steps": [], "format_errors": 0, "tokens": 0, "elapsed": 0.0}


def recall_node(state: EpisodeState, runtime: Runtime[Episode]) -> dict[str, Any]:
    ep = runtime.context
    task = Task.model_validate(state["task"])
    obs = Observation.model_validate(state["observation"])
    memory = ep.recaller.recall(task, obs)
    ep.handlers = dict(memory.handlers)
    demos = (prompts.demonstrations(ep.kind) if ep.builtin_demos else []) + memory.demonstrations
    messages: list[Message] = [{"role": "system", "content": prompts.render(ep.kind, "system.md")}]
    for user, assistant in demos:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    tools_text = prompts.render(ep.kind, "tools.md", tools=memory.tools)
    messages.append(
        {
            "role": "user",
            "content": prompts.render(
                ep.kind,
                "task.md",
                task=task,
                observation=render_observation(ep.kind, obs),
                notes=memory.notes,
                tools_text=tools_text,
            ),
        }
    )
    return {
        "messages": messages,
        "retrieved": list(memory.retrieved),
        "tools": [t.model_dump() for t in memory.tools],
        "prompt": prompt_layout(ep, task, obs, memory, messages, tools_text),
    }


def prompt_layout(
    ep: Episode, task: Task, obs: Observation, memory: Recollection, messages: list[Message], tools_text: str
) -> dict[str, Any]:
    """Where recalled experience sits in the messages, so an export can strip it again."""
    bare = messages[-1]["content"]
    if memory.notes:
        observation = render_observation(ep.kind, obs)
        bare = prompts.render(
            ep.kind, "task.md", task=task, observation=observation, notes=[], tools_text=tools_text
        )
    return {
        "builtin_demos": (len(messages) - 2) // 2 - len(memory.demonstrations),
        "recalled_demos": len(memory.demonstrations),
        "notes": list(memory.notes),
        "tools": [t.model_dump() for t in memory.tools],
        "task_message": len(messages) - 1,
        "task_message_without_notes": bare,
    }


def act_node(state: EpisodeState, runtime: Runtime[Episode]) -> dict[str, Any]:
    ep = runtime.context
    check_limits(state, ep)
    tools = [ToolSpec.model_validate(t) for t in state.get("tools", [])]
    started = time.perf_counter()
    try:
        reply = ep.model.complete(
            state["messages"], tools=tools if native_tools(ep.model) else (), seed=ep.seed
        )
    except ModelError as exc:
        return {
            "pending": {
                "reply": ModelReply(text="").model_dump(),
                "error": f"model error: {exc}",
                "seconds": time.perf_counter() - started,
            }
        }
    pending: dict[str, Any] = {"reply": reply.model_dump(), "seconds": time.perf_counter() - started}
    try:
        action = parse_tool_call(reply, tools) or ep.env.parse_action(reply.text)
        pending["action"] = action.model_dump()
    except FormatError as exc:
        pending["error"] = exc.feedback
    return {"pending": pending}


def step_node(state: EpisodeState, runtime: Runtime[Episode]) -> dict[str, Any]:
    ep = runtime.context
    pending = state["pending"] or {}
    reply = ModelReply.model_validate(pending["reply"])
    started = time.perf_counter()
    action = Action.model_validate(pending["action"]) if pending.get("action") else None
    error = pending.get("error")
    if action is not None:
        obs = run_action(ep, action)
        feedback = render_observation(ep.kind, obs)
    else:
        obs = Observation.model_validate(state["observation"])
        feedback = prompts.render(ep.kind, "format_error.md", feedback=error or "")
    step = Step(
        index=len(state.get("steps", [])),
        action=action,
        observation=obs,
        model_reply=reply.text,
        tokens_in=reply.tokens_in,
        tokens_out=reply.tokens_out,
        cost=reply.cost,
        seconds=pending.get("seconds", 0.0) + time.perf_counter() - started,
        retrieved=tuple(state.get("retrieved", [])),
        error=error,
    )
    ep.hooks.on_step(state["episode_id"], step)
    messages = [
        *state["messages"],
        {"role": "assistant", "content": reply.text or (action.raw if action else "")},
        {"role": "user", "content": feedback},
    ]
    update: dict[str, Any] = {
        "messages": messages,
        "steps": [step.model_dump(mode="json")],
        "pending": None,
        "observation": obs.model_dump(),
        "tokens": state.get("tokens", 0) + reply.tokens_in + reply.tokens_out,
        "format_errors": 0 if action is not None else state.get("format_errors", 0) + 1,
        "elapsed": state.get("elapsed", 0.0) + step.seconds,
    }
    update["stop_reason"] = stop_reason(state, ep, step, update)
    return update


def finish_node(state: EpisodeState, runtime: Runtime[Episode]) -> dict[str, Any]:
    ep = runtime.context
    draft = build_trajectory(state, ep, outcome="failure", reward=0.0, details={})
    reward = float(ep.env.score(draft))
    details = dict(getattr(ep.env, "details", {}) or {})
    reason = state.get("stop_reason", "")
    outcome = "success" if reward > 0 else ("limit" if reason.startswith("limit") else "failure")
    if reason:
        details.setdefault("stop_reason", reason)
    details["prompt"] = state.get("prompt", {})
    trajectory = build_trajectory(state, ep, outcome=outcome, reward=reward, details=details)
    ep.hooks.on_episode_end(trajectory)
    ep.recaller.on_episode_end(trajectory)
    return {"outcome": outcome, "reward": reward, "details": details}


def run_action(ep: Episode, action: Action) -> Observation:
    if action.name == "call":
        handler = ep.handlers.get(action.args.get("tool", ""))
        if handler is None:
            return Observation(text="", error=f"no tool named {action.args.get('tool')!r} is offered")
        return handler(action, ep.env)
    return ep.env.step(action)


def render_observation(kind: str, obs: Observation) -> str:
    return prompts.render(kind, "observation.md", text=obs.text, error=obs.error, url=obs.url, meta=obs.meta)


def native_tools(model: Model) -> bool:
    return bool(getattr(model, "supports_tools", False))


def check_limits(state: EpisodeState, ep: Episode) -> None:
    """Between steps: a cancelled run stops here, leaving the episode checkpointed and resumable."""
    if ep.cancel.is_set():
        raise Cancelled("run cancelled")


def stop_reason(state: EpisodeState, ep: Episode, step: Step, update: dict[str, Any]) -> str:
    """Why the episode ends after this step ("" when it goes on)."""
    if step.observation.done:
        return ""
    lim = ep.limits
    n = len(state.get("steps", [])) + 1
    if n >= lim.max_steps:
        return "limit: steps"
    if update["tokens"] >= lim.max_tokens:
        return "limit: tokens"
    if update["elapsed"] >= lim.max_seconds:
        return "limit: wall time"
    if update["format_errors"] >= lim.max_format_errors:
        return "no usable reply"
    if repeated(state.get("steps", []), step, lim.max_repeats):
        return "repeated action"
    return ""


def repeated(previous: Sequence[dict[str, Any]], step: Step, times: int) -> bool:
    if step.action is None:
        return False
    key = action_key(step.action)
    tail = list(previous[-(times - 1) :]) if times > 1 else []
    return len(tail) == times - 1 and all(
        s.get("action") and action_key(Action.model_validate(s["action"])) == key for s in tail
    )


def route_after_step(state: EpisodeState) -> str:
    obs = state.get("observation") or {}
    return "finish" if obs.get("done") or state.get("stop_reason") else "act"


def build_trajectory(
    state: EpisodeState, ep: Episode, *, outcome: str, reward: float, details: dict[str, Any]
) -> Trajectory:
    return Trajectory(
        id=state["episode_id"],
        run_id=state.get("run_id", ""),
        task=Task.model_validate(state["task"]),
        steps=tuple(Step.model_validate(s) for s in state.get("steps", [])),
        messages=tuple(state.get("messages", [])),
        outcome=outcome,  # type: ignore[arg-type]
        reward=reward,
        model=ep.model.name,
        details=details,
        seconds=state.get("elapsed", 0.0),
    )


def build_graph() -> StateGraph:
    graph = StateGraph(EpisodeState, context_schema=Episode)
    graph.add_node("reset", reset_node)
    graph.add_node("recall", recall_node)
    graph.add_node("act", act_node)
    graph.add_node("step", step_node)
    graph.add_node("finish", finish_node)
    graph.add_edge(START, "reset")
    graph.add_edge("reset", "recall")
    graph.add_edge("recall", "act")
    graph.add_edge("act", "step")
    graph.add_conditional_edges("step", route_after_step, ["act", "finish"])
    graph.add_edge("finish", END)
    return graph


__all__ = ["Episode", "EpisodeState", "Interrupt", "NoHooks", "NoRecall", "build_graph"]
