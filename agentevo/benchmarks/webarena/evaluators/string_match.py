"""string_match: the stop answer against `reference_answers`, by the flavour's rules (see the package doc)."""

from __future__ import annotations

from typing import Any

from agentevo.benchmarks.webarena.evaluators import Scoring, scoring_for
from agentevo.benchmarks.webarena.evaluators.text import clean, word_tokenize
from agentevo.records import Task, Trajectory

OR = " |OR| "
VAB_ONLY = frozenset({"must_exclude", "one_of", "required_values"})


def score(task: Task, trajectory: Trajectory, env: Any) -> tuple[float, dict[str, Any]]:
    return check(scoring_for(task, trajectory, env))


def check(s: Scoring) -> tuple[float, dict[str, Any]]:
    vab = s.flavour == "vab-lite"
    pred = clean(s.answer, strip=not vab)
    score, notes = 1.0, {}
    for rule, value in (s.config["eval"].get("reference_answers") or {}).items():
        if rule == "fuzzy_match" and value == "N/A":
            score, notes[rule] = unachievable(s, pred, score)
            continue
        if rule in VAB_ONLY and not vab:
            notes[rule] = "ignored: only vab-lite knows this rule"  # the original's match has no case for it
            continue
        part, note = RULES[rule](s, pred, value, vab)
        score *= part
        notes[rule] = note
    return score, {"answer": s.answer, "rules": notes}


def exact_match(ref: str, pred: str, vab: bool = False) -> float:
    return float(clean(pred, strip=not vab) == clean(ref, strip=not vab))


def must_include(ref: str, pred: str, *, tokenize: bool, vab: bool = False) -> float:
    ref, pred = clean(ref, strip=not vab), clean(pred, strip=not vab)
    if tokenize:
        return float(ref in word_tokenize(pred))
    return float(ref in pred)


def original_tokenises(ref: str, items: int) -> bool:
    """WebArena: only a one-item list whose single reference is one character that stays one token."""
    cleaned = clean(ref)
    return items == 1 and len(cleaned) == 1 and len(word_tokenize(cleaned)) == 1


def vab_tokenises(ref: str) -> bool:
    """VAB-Lite: any reference that is a single token (of any length)."""
    return len(word_tokenize(clean(ref, strip=False))) == 1


def rule_exact(s: Scoring, pred: str, value: str, vab: bool) -> tuple[float, Any]:
    return exact_match(value, pred, vab), {"reference": value}


def rule_must_include(s: Scoring, pred: str, value: list[str], vab: bool) -> tuple[float, Any]:
    if not isinstance(value, list):  # every harness asserts a list here (Lite task 81 has a string)
        raise ValueError(f"must_include must be a list, not {value!r}")
    missing = []
    for item in value:
        if vab:
            ok = any(must_include(alt, pred, tokenize=vab_tokenises(alt), vab=True) for alt in item.split(OR))
        else:
            ok = bool(must_include(item, pred, tokenize=original_tokenises(item, len(value))))
        if not ok:
            missing.append(item)
    return (0.0 if missing else 1.0), {"missing": missing}


def rule_must_exclude(s: Scoring, pred: str, value: list[str], vab: bool) -> tuple[float, Any]:
    present = [v for v in value if must_include(v, pred, tokenize=vab_tokenises(v), vab=vab)]
    return (0.0 if present else 1.0), {"present": present}


def rule_one_of(s: Scoring, pred: str, value: list[str], vab: bool) -> tuple[float, Any]:
    found = next((v for v in value if clean(v, strip=not vab) in pred), None)
    return float(found is not None), {"found": found}


def to_int(text: str) -> int | None:
    try:
        return int(text.strip().replace(",", ""))
    except ValueError:
        return None


def satisfies(value: float, inequality: str, tol: float = 1e-8) -> bool:
    """VAB-Lite's numeric rule: "< 700", ">= 300", "== 5" (operators tried in this order)."""
    ops = {
        "<=": lambda x, y: x <= y + tol,
        ">=": lambda x, y: x >= y - tol,
        "==": lambda x, y: abs(x - y) <= tol,
        "<": lambda x, y: x < y + tol,
        ">": lambda x, y: x > y - tol,
    }
    for op, test in ops.items():
        if op in inequality:
            return test(value, float(inequality.split(op)[1].strip()))
    raise ValueError(f"not an inequality: {inequality!r}")


def rule_required_values(s: Scoring, pred: str, value: list[str], vab: bool) -> tuple[float, Any]:
    number = to_int(pred)
    if number is None:
        return 0.0, {"error": f"the answer {pred!r} is not an integer"}
    failed = [v for v in value if not any(satisfies(number, alt) for alt in v.split(OR))]
    return (0.0 if failed else 1.0), {"failed": failed}


def rule_fuzzy(s: Scoring, pred: str, value: list[str], vab: bool) -> tuple[float, Any]:
    joined = vab  # VAB-Lite judges the items in one call, joined by ", "; the original one by one
    part, verdicts = s.judge.fuzzy(pred, list(value), s.intent, joined=joined)
    return part, {"judge": s.judge.name, "verdicts": verdicts}


def unachievable(s: Scoring, pred: str, score: float) -> tuple[float, Any]:
    """The N/A rule: an exact "N/A" passes; otherwise the judge's same/different verdict *replaces* the
    score so far (assignment in the original, not a product)."""
    score *= exact_match("N/A", pred)
    if score == 1.0:
        return 1.0, {"rule": "N/A", "verdict": "exact"}
    reason = str(s.config["eval"].get("string_note", ""))
    verdict, note = s.judge.unachievable(pred, reason, s.intent)
    return verdict, {"rule": "N/A", "judge": s.judge.name, "verdict": note}


RULES = {
    "exact_match": rule_exact,
    "must_include": rule_must_include,
    "must_exclude": rule_must_exclude,
    "one_of": rule_one_of,
    "required_values": rule_required_values,
    "fuzzy_match": rule_fuzzy,
}
