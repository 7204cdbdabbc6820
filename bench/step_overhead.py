"""Per-step overhead of the agent graph with a zero-latency scripted model and a no-op environment.

Compares, in one run: a bare Python loop making the same model and environment calls (the floor), the
graph alone, and the graph with the trajectory store writing each step (what `agentevo run` does: the
steps table is the one record of an episode's progress). Target: < 5 ms per step, and < 5% of a real step
of the embedded model (measured here too, unless --no-model).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import report

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.config import LimitsConfig
from agentevo.records import Action, Observation, Task
from agentevo.runs.runner import StoreHooks
from agentevo.runs.store import TrajectoryStore
from agentevo.testing import FunctionModel

STEPS = 40
EPISODES = 5
OBS = "x " * 600  # an observation of ~1,200 characters, like a small accessibility tree


class CountingEnv:
    """Done after STEPS steps; every step returns the same sized observation."""

    kind = "code"

    def __init__(self) -> None:
        self.n = 0
        self.details: dict = {}

    def reset(self, task: Task) -> Observation:
        self.n = 0
        return Observation(text=OBS)

    def parse_action(self, text: str) -> Action:
        return Action(name="submit", args={"code": text}, raw=text)

    def step(self, action: Action) -> Observation:
        self.n += 1
        return Observation(text=OBS, done=self.n >= STEPS)

    def score(self, trajectory) -> float:
        return 1.0

    def close(self) -> None:
        pass


def model() -> FunctionModel:
    counter = iter(range(10**9))
    return FunctionModel(lambda messages, tools: f"```python\nx = {next(counter)}\n```")


def bare_loop() -> float:
    env, m = CountingEnv(), model()
    task = Task(id="t", suite="bench", kind="code", instruction="count")
    started = time.perf_counter()
    for _ in range(EPISODES):
        obs = env.reset(task)
        messages = [{"role": "user", "content": obs.text}]
        while not obs.done:
            reply = m.complete(messages)
            obs = env.step(env.parse_action(reply.text))
            messages += [{"role": "assistant", "content": reply.text}, {"role": "user", "content": obs.text}]
    return (time.perf_counter() - started) / (EPISODES * STEPS)


def graph_loop(store: TrajectoryStore | None = None) -> float:
    task = Task(id="t", suite="bench", kind="code", instruction="count")
    limits = LimitsConfig(max_steps=STEPS + 1, max_repeats=STEPS + 1)
    started = time.perf_counter()
    for i in range(EPISODES):
        hooks = StoreHooks(store) if store is not None else None
        ep = Episode(
            env=CountingEnv(),
            model=model(),
            limits=limits,
            builtin_demos=False,
            **({"hooks": hooks} if hooks else {}),
        )
        if store is not None:
            store.start_episode(f"e{i}", "bench", task, i, "function")
        run_episode(task, ep, episode_id=f"e{i}")
    return (time.perf_counter() - started) / (EPISODES * STEPS)


def real_step_seconds() -> float | None:
    if "--no-model" in sys.argv:
        return None
    from agentevo.models import load_model

    m = load_model("local/smollm2")
    m.complete([{"role": "user", "content": "hi"}], max_tokens=4)  # load and warm up
    started = time.perf_counter()
    m.complete([{"role": "user", "content": "Write a Python function that adds two numbers."}], max_tokens=64)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        floor = bare_loop()
        plain = graph_loop()
        stored = graph_loop(TrajectoryStore(f"sqlite:///{Path(tmp)}/t.db"))
    real = real_step_seconds()
    rows, data = [], {"steps_per_episode": STEPS, "episodes": EPISODES, "variants": {}}
    for name, per_step in [
        ("bare loop (floor)", floor),
        ("graph", plain),
        ("graph + step store", stored),
    ]:
        overhead = per_step - floor
        share = f"{100 * overhead / real:.3f}%" if real else "-"
        rows.append([name, 1000 * per_step, 1000 * overhead, share])
        data["variants"][name] = {"ms_per_step": 1000 * per_step, "overhead_ms": 1000 * overhead}
    data["real_step_seconds"] = real
    data["target_ms"] = 5.0
    data["meets_target"] = (stored - floor) * 1000 < 5.0
    report(
        "step_overhead",
        "agent graph: per-step cost with a zero-latency model",
        ["variant", "ms/step", "overhead ms/step", "share of a real SmolLM2 step"],
        rows,
        data,
    )
    if real:
        print(f"a real step of the embedded model (64 new tokens) took {real:.2f} s")


if __name__ == "__main__":
    main()
