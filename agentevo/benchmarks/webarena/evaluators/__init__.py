"""WebArena's evaluators, in three flavours, one module per evaluator type.

    string_match   the stop answer against reference_answers (exact_match, must_include, fuzzy_match, N/A)
    url_match      the final page's URL against reference_url
    program_html   JS locators (or `func:` helpers) evaluated on live pages against required_contents

Each module has `score(task, trajectory, env) -> (reward, details)`; `evaluate` multiplies the types a
config lists (each is 0 or 1 in practice), as WebArena's EvaluatorComb does. The flavour
(`environment.options.flavour`) picks whose rules apply where the harnesses differ:

    webarena         web-arena-x/webarena: single-item, single-character must_include is tokenised; fuzzy
                     items judged one by one; URL "GOLD in PRED" on base (substring) + query parameters;
                     program_html unescapes HTML and has no fuzzy_match
    vab-lite         THUDM VisualAgentBench: no whitespace strip; ` |OR| ` in must_include; any single-token
                     reference tokenised; fuzzy items joined in one call; must_exclude, one_of,
                     required_values; URL rule EXACT by default (localhost → 127.0.0.1); `lambda:` locators
    browsergym-lite  BrowserGym's Lite port: webarena's string and URL rules, program_html with fuzzy_match
                     (joined) and a None selection scoring 0

The env is a PlaywrightWebEnvironment; scoring runs on its browser thread, with its live page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentevo.benchmarks.webarena.evaluators.judge import Judge, judge_for
from agentevo.protocols import WebEnvironment
from agentevo.records import Task, Trajectory

FLAVOURS = ("webarena", "vab-lite", "browsergym-lite")


@dataclass
class Scoring:
    """Everything one scoring reads: the config, the answer, the rules, and the live browser."""

    config: dict[str, Any]
    answer: str
    flavour: str = "webarena"
    judge: Judge = field(default_factory=lambda: judge_for(None))
    page: Any = None
    context: Any = None
    site_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def intent(self) -> str:
        return str(self.config.get("intent", ""))


def answer_of(trajectory: Trajectory, env: Any = None) -> str:
    """The answer of the last `stop` action; "" when the episode ended without one (WebArena's run loop
    adds an empty stop then)."""
    for step in reversed(trajectory.steps):
        if step.action is not None and step.action.name == "stop":
            return str(step.action.args.get("answer", ""))
    answer = env.answer if isinstance(env, WebEnvironment) else None
    return str(answer) if answer is not None else ""


def scoring_for(task: Task, trajectory: Trajectory, env: WebEnvironment) -> Scoring:
    return Scoring(
        config=task.meta["config"],
        answer=answer_of(trajectory, env),
        flavour=env.options.flavour,
        judge=judge_for(env.options.judge),
        page=env.page,
        context=env.context,
        site_urls=task.meta.get("site_urls", {}),
    )


def check(s: Scoring) -> tuple[float, dict[str, Any]]:
    """Score a final state: the product over the config's eval_types."""
    from agentevo.benchmarks.webarena.evaluators import program_html, string_match, url_match

    modules = {"string_match": string_match, "url_match": url_match, "program_html": program_html}
    reward, details = 1.0, {"flavour": s.flavour, "judge": s.judge.name}
    for eval_type in s.config["eval"]["eval_types"]:
        try:
            part, info = modules[eval_type].check(s)
        except Exception as exc:  # an evaluator that cannot run scores 0 and says why (site down, bad rule)
            part, info = 0.0, {"error": f"{type(exc).__name__}: {exc}"}
        reward *= part
        details[eval_type] = {"reward": part, **info}
    return reward, details


def evaluate(task: Task, trajectory: Trajectory, env: Any) -> tuple[float, dict[str, Any]]:
    return check(scoring_for(task, trajectory, env))


__all__ = ["FLAVOURS", "Scoring", "answer_of", "check", "evaluate", "scoring_for"]
