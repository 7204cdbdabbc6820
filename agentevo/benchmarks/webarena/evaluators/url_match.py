"""url_match: the final page's URL against `reference_url` (alternatives joined by ` |OR| `).

webarena / browsergym-lite: rule "GOLD in PRED" (the default; any other rule is an error). Trailing "/"s
are dropped; each URL splits into base (host + path) and query parameters. The base passes when any
reference base is a *substring* of the predicted base; every query key of any reference must have one of
its reference values among the prediction's values for that key. Scheme and parameter order do not matter;
extra parameters are allowed.

vab-lite: one trailing "/" dropped and `localhost` read as `127.0.0.1`; rule "EXACT" by default (the URL
must equal a reference) or "GOLD in PRED" (a reference is a substring of the whole URL string).
"""

from __future__ import annotations

import collections
import urllib.parse
from typing import Any

from agentevo.benchmarks.webarena.evaluators import Scoring, scoring_for
from agentevo.records import Task, Trajectory

OR = " |OR| "


class UnknownRule(ValueError):
    pass


def score(task: Task, trajectory: Trajectory, env: Any) -> tuple[float, dict[str, Any]]:
    return check(scoring_for(task, trajectory, env))


def check(s: Scoring) -> tuple[float, dict[str, Any]]:
    pred = str(s.page.url) if s.page is not None else ""
    ev = s.config["eval"]
    refs = str(ev["reference_url"]).split(OR)
    if s.flavour == "vab-lite":
        rule = ev.get("url_note") or "EXACT"
        result = vab_match(pred, refs, rule)
    else:
        rule = ev.get("url_note") or "GOLD in PRED"
        result = gold_in_pred(pred, refs, rule)
    return result, {"url": pred, "reference": refs, "rule": rule}


def parse(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urllib.parse.urlparse(url)
    return parts.netloc + parts.path, urllib.parse.parse_qs(parts.query)


def gold_in_pred(pred: str, refs: list[str], rule: str) -> float:
    if rule != "GOLD in PRED":
        raise UnknownRule(f"url_note {rule!r} is not a rule of this flavour (only 'GOLD in PRED')")
    pred_base, pred_query = parse(pred.rstrip("/"))
    ref_bases, ref_queries = [], collections.defaultdict(set)
    for ref in refs:
        base, query = parse(ref.rstrip("/"))
        ref_bases.append(base)
        for key, values in query.items():
            ref_queries[key].update(values)
    base_ok = any(base in pred_base for base in ref_bases)
    query_ok = all(any(v in pred_query.get(k, []) for v in values) for k, values in ref_queries.items())
    return float(base_ok and query_ok)


def vab_clean(url: str) -> str:
    url = url.replace("localhost", "127.0.0.1")
    return url[:-1] if url.endswith("/") else url


def vab_match(pred: str, refs: list[str], rule: str) -> float:
    pred, refs = vab_clean(pred), [vab_clean(r) for r in refs]
    if rule == "EXACT":
        return float(pred in refs)
    if rule == "GOLD in PRED":
        return float(any(ref in pred for ref in refs))
    raise UnknownRule(f"url_note {rule!r} is not a rule of vab-lite (EXACT or GOLD in PRED)")
