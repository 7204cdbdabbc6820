"""The agent loop as a LangGraph state graph: act ⇄ step, then finish.

    act      one model call; the reply is parsed into an action (or feedback when it cannot be)
    step     the action runs in the environment (or an offered tool runs); the observation is appended
    finish   the environment scores the episode

Before the graph runs, `agent.episode` resets the environment and asks every learner what the episode
should be shown (`recall`); the state is typed (`EpisodeState`), and the run-time context (`Turn`:
environment, model, learners, the offered tools' handlers) is never part of it. In-flight progress has one
record, the steps table the runner writes as each step is taken: an interrupted episode resumes by
replaying those steps (`after_step` is the same fold for a live step and a replayed one).
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agentevo.agent import prompts
from agentevo.agent.parsing import action_key, parse_tool_call
from agentevo.config import LimitsConfig
from agentevo.errors import Cancelled, FormatError, Interrupt, ModelError
from agentevo.models.calls import ask
from agentevo.protocols import Environment, Learner, Model, Recollection, StepHooks, ToolHandler
from agentevo.records import Action, Message, ModelReply, Observation, Step, Task, ToolSpec, Trajectory


class Pending(BaseModel):
    """A model reply waiting for the step node: its action, or why it has none."""

    reply: ModelReply
    action: Action | None = None
    error: str | None = None
    seconds: float = 0.0


class EpisodeState(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    episode_id: str
    run_id: str = ""
    task: Task
    observation: Observation
    messages: list[Message]
    steps: Annotated[list[Step], operator.add] = Field(default_factory=list)
    pending: Pending | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)
    format_errors: int = 0
    tokens: int = 0
    elapsed: float = 0.0
    stop_reason: str = ""
    prompt: dict[str, Any] = Field(default_factory=dict)
    outcome: str = ""
    reward: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)


class NoHooks:
    def on_step(self, episode_id: str, step: Step) -> None:
        pass


@dataclass
class Episode:
    """What the caller gives one episode: environment, model, limits and the learners it may recall from."""

    env: Environment
    model: Model
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    learners: Sequence[Learner] = ()
    hooks: StepHooks = field(default_factory=NoHooks)
    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_set: str = ""
    seed: int | None = None
    builtin_demos: bool = True

    @property
    def kind(self) -> str:
        return self.prompt_set or self.env.kind


@dataclass(frozen=True)
class Turn:
    """The graph's run-time context: the episode and the handlers of the tools its recall offered."""

    episode: Episode
    handlers: Mapping[str, ToolHandler]


def recall_all(learners: Sequence[Learner], task: Task, observation: Observation) -> Recollection:
    """What every learner offers, in order, as one recollection."""
    merged = Recollection()
    for part in (learner.recall(task, observation) for learner in learners):
        merged.demonstrations += part.demonstrations
        merged.notes += part.notes
        merged.tools += part.tools
        merged.handlers.update(part.handlers)
        merged.retrieved += part.retrieved
    return merged


def act_node(state: EpisodeState, runtime: Runtime[Turn]) -> dict[str, Any]:
    ep = runtime.context.episode
    if ep.cancel.is_set():  # between steps: the episode stops here, its steps stored and resumable
        raise Cancelled("run cancelled")
    started = time.perf_counter()
    try:
        tools = state.tools if ep.model.supports_tools else ()  # else offered as text in the task message
        constraint = reply_constraint(ep, state)
        reply = ask(ep.model, state.messages, tools=tools, seed=ep.seed, constraint=constraint)
    except ModelError as exc:
        pending = Pending(reply=ModelReply(text=""), error=f"model error: {exc}")
        return {"pending": pending.model_copy(update={"seconds": time.perf_counter() - started})}
    pending = Pending(reply=reply, seconds=time.perf_counter() - started)
    try:
        action = parse_tool_call(reply, state.tools) or ep.env.parse_action(reply.text)
        pending.action = action
    except FormatError as exc:
        pending.error = exc.feedback
    return {"pending": pending}


def reply_constraint(ep: Episode, state: EpisodeState) -> Any:
    """The grammar of the replies the environment accepts in this state (its kind's actions, ids on the
    current page, the offered tools), when the model follows constraints (local models, unless --constrain
    off)."""
    if not getattr(ep.model, "constrains", False):
        return None
    from agentevo.constrain import for_reply

    offered = () if ep.model.supports_tools else state.tools
    return for_reply(ep.env.kind, state.observation, offered)


def step_node(state: EpisodeState, runtime: Runtime[Turn]) -> dict[str, Any]:
    turn = runtime.context
    pending = state.pending
    assert pending is not None
    started = time.perf_counter()
    obs = run_action(turn, pending.action) if pending.action is not None else state.observation
    step = Step(
        index=len(state.steps),
        action=pending.action,
        observation=obs,
        model_reply=pending.reply.text,
        tokens_in=pending.reply.tokens_in,
        tokens_out=pending.reply.tokens_out,
        cost=pending.reply.cost,
        seconds=pending.seconds + time.perf_counter() - started,
        retrieved=tuple(state.retrieved),
        error=pending.error,
    )
    turn.episode.hooks.on_step(state.episode_id, step)
    return after_step(state, step, turn.episode)


def after_step(state: EpisodeState, step: Step, ep: Episode) -> dict[str, Any]:
    """The state update one step makes: its turns in the conversation, the counters, whether to stop."""
    if step.action is not None:
        feedback = render_observation(ep.kind, step.observation)
    else:
        feedback = prompts.render(ep.kind, "format_error.md", feedback=step.error or "")
    update: dict[str, Any] = {
        "messages": [
            *state.messages,
            {"role": "assistant", "content": step.model_reply or (step.action.raw if step.action else "")},
            {"role": "user", "content": feedback},
        ],
        "steps": [step],
        "pending": None,
        "observation": step.observation,
        "tokens": state.tokens + step.tokens_in + step.tokens_out,
        "format_errors": 0 if step.action is not None else state.format_errors + 1,
        "elapsed": state.elapsed + step.seconds,
    }
    update["stop_reason"] = stop_reason(state, ep, step, update)
    return update


def finish_node(state: EpisodeState, runtime: Runtime[Turn]) -> dict[str, Any]:
    ep = runtime.context.episode
    reward = float(ep.env.score(trajectory_of(state, ep, outcome="failure")))
    reason = state.stop_reason
    outcome = "success" if reward > 0 else ("limit" if reason.startswith("limit") else "failure")
    details = dict(ep.env.details)
    if reason:
        details.setdefault("stop_reason", reason)
    details["prompt"] = state.prompt
    return {"outcome": outcome, "reward": reward, "details": details}


def run_action(turn: Turn, action: Action) -> Observation:
    if action.name == "call":
        handler = turn.handlers.get(action.args.get("tool", ""))
        if handler is None:
            return Observation(text="", error=f"no tool named {action.args.get('tool')!r} is offered")
        return handler(action, turn.episode.env)
    return turn.episode.env.step(action)


def render_observation(kind: str, obs: Observation) -> str:
    return prompts.render(kind, "observation.md", text=obs.text, error=obs.error, url=obs.url, meta=obs.meta)


def stop_reason(state: EpisodeState, ep: Episode, step: Step, update: dict[str, Any]) -> str:
    """Why the episode ends after this step ("" when it goes on)."""
    if step.observation.done:
        return ""
    lim = ep.limits
    n = len(state.steps) + 1
    if n >= lim.max_steps:
        return "limit: steps"
    if update["tokens"] >= lim.max_tokens:
        return "limit: tokens"
    if update["elapsed"] >= lim.max_seconds:
        return "limit: wall time"
    if update["format_errors"] >= lim.max_format_errors:
        return "no usable reply"
    if repeated(state.steps, step, lim.max_repeats):
        return "repeated action"
    return ""


def repeated(previous: Sequence[Step], step: Step, times: int) -> bool:
    if step.action is None:
        return False
    key = action_key(step.action)
    tail = list(previous[-(times - 1) :]) if times > 1 else []
    return len(tail) == times - 1 and all(s.action and action_key(s.action) == key for s in tail)


def ended(state: EpisodeState) -> bool:
    return state.observation.done or bool(state.stop_reason)


def route_after_step(state: EpisodeState) -> str:
    return "finish" if ended(state) else "act"


def trajectory_of(state: EpisodeState, ep: Episode, *, outcome: str) -> Trajectory:
    return Trajectory(
        id=state.episode_id,
        run_id=state.run_id,
        task=state.task,
        steps=tuple(state.steps),
        messages=tuple(state.messages),
        outcome=outcome,  # type: ignore[arg-type]
        reward=state.reward,
        model=ep.model.name,
        details=state.details,
        seconds=state.elapsed,
    )


def build_graph() -> StateGraph:
    graph = StateGraph(EpisodeState, context_schema=Turn)
    graph.add_node("act", act_node)
    graph.add_node("step", step_node)
    graph.add_node("finish", finish_node)
    graph.add_conditional_edges(START, route_after_step, ["act", "finish"])  # a replay may have ended it
    graph.add_edge("act", "step")
    graph.add_conditional_edges("step", route_after_step, ["act", "finish"])
    graph.add_edge("finish", END)
    return graph


__all__ = ["Episode", "EpisodeState", "Interrupt", "NoHooks", "Turn", "build_graph", "recall_all"]
