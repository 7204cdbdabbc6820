"""Reference solutions: actions addressed by role and accessible name, replayed as WebArena id actions.

WebArena's ids are per-page accessibility node ids, so a stored solution names its targets instead:

    {"action": "click", "role": "link", "name": "My Orders"}              (optional "nth": 1 for the 2nd)
    {"action": "type", "role": "searchbox", "name": "Search", "text": "chair", "enter": true}
    {"action": "press", "key": "Control+a"}      {"action": "goto", "url": "__SHOP__/cart"}
    {"action": "stop", "answer": "$24.99"}

At replay each one is resolved against the current observation's id table (`env.tree`) into the reply a
model would give (```click [42]```), which goes through the environment's own parser and `step` — the
same path as an agent's action, so a reference that replays is a solution an agent could produce.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from agentevo.errors import EnvError
from agentevo.records import Observation, Step, Task, Trajectory

REFRESH = "```scroll [up]```"
KEYS = ("action", "role", "name", "text", "enter", "nth", "key", "url", "answer", "direction", "index")


class ReplayError(EnvError):
    """A reference action could not be resolved or failed on the page."""


def resolve(ref: dict[str, Any], env: Any) -> str:
    """The model reply (an id action in WebArena's grammar) that carries out `ref` on the env's page."""
    return as_reply(ref, lambda role, name, nth: find_node(env, role, name, nth))


def resolve_text(ref: dict[str, Any], observation: str) -> str:
    """The same, reading the ids off an observation's text, as a model would."""
    return as_reply(ref, lambda role, name, nth: find_in_text(observation, role, name, nth))


def as_reply(ref: dict[str, Any], find: Callable[[str, str, int], str]) -> str:
    verb = ref["action"]
    if verb in ("click", "hover", "type"):
        node_id = find(ref["role"], ref["name"], int(ref.get("nth", 0)))
        if verb == "type":
            return f"```type [{node_id}] [{ref['text']}] [{1 if ref.get('enter', True) else 0}]```"
        return f"```{verb} [{node_id}]```"
    if verb == "press":
        return f"```press [{ref['key']}]```"
    if verb == "goto":
        return f"```goto [{ref['url']}]```"
    if verb == "scroll":
        return f"```scroll [{ref.get('direction', 'down')}]```"
    if verb == "tab_focus":
        return f"```tab_focus [{ref['index']}]```"
    if verb in ("go_back", "go_forward", "new_tab", "close_tab"):
        return f"```{verb}```"
    if verb == "stop":
        return f"```stop [{ref.get('answer', '')}]```"
    raise ReplayError(f"unknown reference action {verb!r}")


def find_node(env: Any, role: str, name: str, nth: int = 0) -> str:
    matches = [n.id for n in env.tree.nodes.values() if n.role == role and n.name == name]
    if len(matches) <= nth:
        url = getattr(env.page, "url", "?") if getattr(env, "page", None) is not None else "?"
        raise ReplayError(f"no {role} named {name!r} (#{nth + 1}) on {url}; found {len(matches)}")
    return matches[nth]


def find_in_text(text: str, role: str, name: str, nth: int = 0) -> str:
    """The id on the `[id] role 'name'` line of an accessibility-tree text (names are written as repr)."""
    pattern = re.compile(rf"^\s*\[(\d+)\] {re.escape(role)} {re.escape(repr(name))}(?: |$)", re.M)
    matches = pattern.findall(text)
    if len(matches) <= nth:
        raise ReplayError(f"no {role} named {name!r} (#{nth + 1}) in the observation; found {len(matches)}")
    return matches[nth]


def replay(env: Any, task: Task, reference: Sequence[dict[str, Any]] | None = None) -> Trajectory:
    """Reset the environment for `task`, carry out its reference (or the given actions), and return the
    trajectory with its reward. Raises ReplayError when an action cannot be found or fails.

    On a loaded machine a click's navigation can start after the environment has observed the old page, so
    the replay looks again (a harmless `scroll [up]`) when the browser has moved on from the observed URL,
    or when a target is missing from the observation."""
    actions = task.meta.get("reference", []) if reference is None else reference
    seen = env.reset(task)
    steps: list[Step] = []

    def act(reply: str) -> Observation:
        action = env.parse_action(reply)
        obs: Observation = env.step(action)
        steps.append(Step(index=len(steps), action=action, observation=obs, model_reply=reply))
        if obs.error:
            raise ReplayError(f"task {task.id}: step {len(steps) - 1} {reply.strip('`')}: {obs.error}")
        return obs

    for ref in actions:
        if env.call(lambda: env.page.url) != seen.url:
            seen = act(REFRESH)
        try:
            reply = resolve(ref, env)
        except ReplayError:
            seen = act(REFRESH)
            reply = resolve(ref, env)
        seen = act(reply)
        if seen.done:
            break
    draft = Trajectory(
        id=f"replay:{task.id}", task=task, steps=tuple(steps), outcome="failure", run_id="replay"
    )
    reward = float(env.score(draft))
    outcome = "success" if reward > 0 else "failure"
    return draft.model_copy(update={"reward": reward, "outcome": outcome, "details": dict(env.details)})


def check_reference(actions: Any, where: str) -> list[dict[str, Any]]:
    """Validate a stored reference (a list of action objects); raise ReplayError naming the fault."""
    if not isinstance(actions, list) or not actions:
        raise ReplayError(f"{where}: a reference is a non-empty list of actions")
    for i, ref in enumerate(actions):
        if not isinstance(ref, dict) or "action" not in ref:
            raise ReplayError(f"{where}: action {i} is not an object with an 'action' field")
        unknown = set(ref) - set(KEYS)
        if unknown:
            raise ReplayError(f"{where}: action {i} has unknown fields {sorted(unknown)}")
        if ref["action"] in ("click", "hover", "type") and not {"role", "name"} <= set(ref):
            raise ReplayError(f"{where}: action {i} ({ref['action']}) needs role and name")
    if actions[-1]["action"] != "stop":
        raise ReplayError(f"{where}: a reference ends with a stop action")
    return actions
