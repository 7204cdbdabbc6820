"""Carrying out what a web or OS tool returns, in the live environment.

An OS tool returns a shell script; it is checked again (the text is only known now, with the arguments in
it) and run as one `bash` action. A web tool returns steps that name elements by role and accessible name;
each becomes one action of the web environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from agentevo.protocols import Environment, WebEnvironment
from agentevo.records import Action, Observation, Step
from agentevo.tools.rules import shell_danger


@dataclass
class Outcome:
    observation: Observation
    ok: bool
    error: str = ""
    steps: list[Step] = field(default_factory=list)


def refused(error: str) -> Outcome:
    return Outcome(Observation(text="", error=error), ok=False, error=error)


def perform_script(script: Any, env: Environment) -> Outcome:
    if not isinstance(script, str) or not script.strip():
        return refused("an OS tool must return a non-empty shell script")
    danger = shell_danger(script)
    if danger:
        return refused(f"refused to run the script: {danger}")
    action = Action(name="bash", args={"script": script}, raw=script)
    obs = env.step(action)
    step = Step(index=0, action=action, observation=obs)
    return Outcome(obs, ok=obs.error is None, error=obs.error or "", steps=[step])


# --- web --------------------------------------------------------------------------------------------------
BY_ROLE = ("click", "hover", "type")
PLAIN = ("press", "go_back", "go_forward", "goto", "stop")
MAX_STEPS = 40


def step_problem(i: int, step: Any) -> str | None:
    if not isinstance(step, dict):
        return f"step {i} is not an object"
    do = step.get("do")
    if do in BY_ROLE:
        if not isinstance(step.get("role"), str) or not isinstance(step.get("name"), str):
            return f"step {i} ({do}) needs a role and a name"
        if do == "type" and not isinstance(step.get("text"), str):
            return f"step {i} (type) needs a text"
        return None
    if do in PLAIN:
        return None
    return f"step {i}: unknown step {do!r} (use {', '.join(BY_ROLE + PLAIN)})"


def perform_steps(steps: Any, env: Environment) -> Outcome:
    if not isinstance(steps, list) or not steps or len(steps) > MAX_STEPS:
        return refused(f"a web tool must return a list of 1 to {MAX_STEPS} steps")
    problem = next((p for i, s in enumerate(steps, 1) if (p := step_problem(i, s))), None)
    if problem:
        return refused(problem)
    done: list[Step] = []
    obs = Observation(text="")
    for i, step in enumerate(steps):
        action, obs = web_step(step, env)
        done.append(Step(index=i, action=action, observation=obs))
        if obs.error:
            error = f"step {i + 1} of {len(steps)} ({describe(step)}): {obs.error}"
            return Outcome(obs.model_copy(update={"error": error}), ok=False, error=error, steps=done)
        if obs.done:
            break
    return Outcome(obs, ok=True, steps=done)


def web_step(step: dict[str, Any], env: Environment) -> tuple[Action, Observation]:
    do = step["do"]
    if do in BY_ROLE:
        action = Action(name=do, args={k: v for k, v in step.items() if k != "do"}, raw=describe(step))
        if not isinstance(env, WebEnvironment):
            return action, Observation(text="", error="this environment cannot act by role and name")
        text = step.get("text") if do == "type" else None
        nth = step.get("nth", 0)
        return action, env.act_by_role(
            do,
            step["role"],
            step["name"],
            text,
            enter=bool(step.get("enter", True)),
            nth=nth if isinstance(nth, int) else 0,
        )
    if do == "goto":
        url = same_site(str(step.get("url", "")), env)
        if url is None:
            return Action(name="goto", args=step), Observation(text="", error="goto leaves the task's site")
        step = {**step, "url": url}
    args = {k: v for k, v in step.items() if k != "do"}
    action = Action(name=do, args=args, raw=describe(step))
    return action, env.step(action)


def same_site(url: str, env: Environment) -> str | None:
    """The URL resolved against the current page; None when it would leave the page's origin."""
    current = env.call(lambda: env.page.url) if isinstance(env, WebEnvironment) else ""
    target = urljoin(current, url)
    here, there = urlsplit(current), urlsplit(target)
    if there.scheme not in ("http", "https") or (here.scheme, here.netloc) != (there.scheme, there.netloc):
        return None
    return target


def describe(step: dict[str, Any]) -> str:
    do = step.get("do")
    if do in BY_ROLE:
        text = f" [{step.get('text')}]" if do == "type" else ""
        nth = f" #{step['nth'] + 1}" if isinstance(step.get("nth"), int) and step["nth"] else ""
        return f"{do} {step.get('role')} {step.get('name')!r}{nth}{text}"
    detail = step.get("key") or step.get("url") or step.get("answer") or ""
    return f"{do} [{detail}]" if detail else str(do)
