"""Hand-made WebArena configs for the evaluator tests."""

from __future__ import annotations

from typing import Any

from agentevo.benchmarks.webarena.evaluators import Scoring
from agentevo.benchmarks.webarena.evaluators.judge import LLMJudge, judge_for
from agentevo.testing import FunctionModel


def config(eval_types: list[str], task_id: int = 1, **ev: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "sites": ["shopping"],
        "require_login": False,
        "storage_state": None,
        "start_url": "http://127.0.0.1:1/",
        "intent": "How many items?",
        "intent_template_id": 7,
        "eval": {"eval_types": eval_types, **ev},
    }


def answers(**refs: Any) -> dict[str, Any]:
    return config(["string_match"], reference_answers=refs)


def scoring(
    cfg: dict[str, Any], answer: str = "", flavour: str = "webarena", judge: Any = None, **kw: Any
) -> Scoring:
    return Scoring(config=cfg, answer=answer, flavour=flavour, judge=judge or judge_for(None), **kw)


def llm_judge(verdict: str) -> tuple[LLMJudge, FunctionModel]:
    model = FunctionModel(lambda messages, tools: verdict, name="judge/fake")
    return LLMJudge(model), model
