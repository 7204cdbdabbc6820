"""The extension points of agentevo, as structural Protocols: implementations need not inherit anything."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agentevo.records import (
    Action,
    ExecResult,
    Experience,
    Kind,
    Message,
    ModelReply,
    Observation,
    Step,
    Task,
    ToolSpec,
    Trajectory,
)

Embedder = Callable[[Sequence[str]], list[list[float]]]


@runtime_checkable
class Model(Protocol):
    name: str
    supports_tools: bool  # offered tools go as native function specs (`tools=`), else as text

    def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ModelReply: ...


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run commands. Its working directory is `workdir` inside the sandbox."""

    workdir: str

    def exec(
        self, command: str | Sequence[str], *, timeout_s: float | None = None, stdin: bytes | None = None
    ) -> ExecResult: ...
    def write_file(self, path: str, data: bytes | str) -> None: ...
    def read_file(self, path: str) -> bytes: ...
    def close(self) -> None: ...


@runtime_checkable
class Environment(Protocol):
    """Runs one task at a time. Failures of actions become observations, never exceptions."""

    kind: Kind
    details: dict[str, Any]  # what the last episode did beyond its observations (evaluator figures, …)

    def reset(self, task: Task) -> Observation: ...
    def parse_action(self, text: str) -> Action:
        """Read an action from a model reply in this environment's grammar; raise FormatError if none."""
        ...

    def step(self, action: Action) -> Observation: ...
    def score(self, trajectory: Trajectory) -> float: ...
    def close(self) -> None: ...


class Reflector(Protocol):
    """Turns a trajectory into experience; an empty list is a good answer."""

    def reflect(self, trajectory: Trajectory, *, known: Sequence[Experience] = ()) -> list[Experience]: ...


# --- what the agent's recall node asks for -------------------------------------------------------------

ToolHandler = Callable[[Action, Environment], Observation]


@dataclass
class Recollection:
    """What recall offers the model for one episode.

    `demonstrations` become user/assistant turns before the task (small models follow those far better than
    text in the system prompt); `notes` go into the task message; `tools` are extra actions, each run by the
    matching entry of `handlers`; `retrieved` names every memory item and tool shown, for usage statistics.
    """

    demonstrations: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    handlers: dict[str, ToolHandler] = field(default_factory=dict)
    retrieved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """What one learner changed after one episode: nothing (the default), or a summary and the ids of what
    it wrote (memory commits, tool versions, adapters)."""

    learner: str
    summary: str = ""
    refs: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.summary or self.refs)


@runtime_checkable
class Learner(Protocol):
    """The one plug-in point for learning: memory, tools (and later adapters, safety) are learners.

    The runner asks every learner, in order, what an episode should be shown (`recall`, before its first
    step), and lets every learner learn from the stored trajectory (`learn`, after it ends). A learner
    built frozen shows what it holds and learns nothing (held-out evaluations). `learn` never raises:
    learning must not end the run whose trajectory it learns from."""

    name: str

    def recall(self, task: Task, observation: Observation) -> Recollection: ...
    def learn(self, trajectory: Trajectory) -> Change: ...


@runtime_checkable
class WebEnvironment(Environment, Protocol):
    """A browser environment: what web tools and the WebArena evaluators use beyond `Environment`."""

    page: Any  # the current Playwright page (used on the browser's own thread, through `call`)
    context: Any  # its browser context
    options: Any  # WebOptions: flavour, judge, timeouts, …
    answer: str | None  # the answer of the episode's `stop` action

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the browser's thread (Playwright objects belong to the thread that made them)."""
        ...

    def act_by_role(
        self, action: str, role: str, name: str, text: str | None = None, *, enter: bool = True, nth: int = 0
    ) -> Observation:
        """Click, hover or type into the element with this role and accessible name."""
        ...


class StepHooks(Protocol):
    """Called with every step the moment it is taken (the runner stores it)."""

    def on_step(self, episode_id: str, step: Step) -> None: ...


Format = Literal["openai", "trl", "sharegpt", "dpo"]
