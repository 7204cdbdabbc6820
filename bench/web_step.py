"""Step latency of the web harness against BrowserGym on the same MiniWoB++ pages and actions.

Both drive /usr/bin/chromium through Playwright, on the pages of the `miniwob` wheel served by our http
server. Each episode plays the same scripted sequence (what to act on, by role and name, resolved to each
harness's element ids from its own observation). Measured: wall time of one `step` (action + the next
observation, screenshot included on both sides) and of `reset`. BrowserGym runs as shipped (slow_mo 100 ms,
pre_observation_delay 0.5 s) and tuned (both 0), so the ratio against each is shown.

    python bench/web_step.py [--episodes 3]       → table on stdout, bench/results/web_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentevo.benchmarks import get_suite  # noqa: E402
from agentevo.benchmarks.miniwob import MiniWoBDriver, serve  # noqa: E402
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions, parse_action  # noqa: E402

# (verb, role, name or a regex group of the utterance, text from the utterance)
SCRIPTS: dict[str, Any] = {
    "click-button": lambda u: [("click", "button", re.search(r'"(.*)" button', u).group(1), None)],
    "click-test-2": lambda u: [("click", "button", re.search(r"button (\w+)", u).group(1), None)],
    "focus-text": lambda u: [("click", "textbox", "", None)],
    "enter-text": lambda u: [
        ("type", "textbox", "", re.search(r'Enter "(.*)" into', u).group(1)),
        ("click", "button", "Submit", None),
    ],
    "login-user": lambda u: [
        ("type", "textbox", "#0", re.search(r'username "(.*?)"', u).group(1)),
        ("type", "textbox", "#1", re.search(r'password "(.*?)"', u).group(1)),
        ("click", "button", "Login", None),
    ],
}


def find_id(text: str, role: str, name: str) -> str:
    """The id of the element with this role and name; `#n` = the n-th element of the role."""
    if name.startswith("#"):
        return re.findall(rf"\[(\w+)\] {re.escape(role)} ", text)[int(name[1:])]
    pattern = rf"\[(\w+)\] {re.escape(role)} '{re.escape(name)}'"
    match = re.search(pattern, text) or re.search(rf"\[(\w+)\] {re.escape(role)} ", text)
    if match is None:
        raise RuntimeError(f"no {role} {name!r} in:\n{text[:800]}")
    return match.group(1)


def ours(episodes: int, seeds: list[int]) -> dict[str, Any]:
    tasks = {t.template_id: t for t in get_suite("miniwob").tasks("train")}
    shots = Path(tempfile.mkdtemp(prefix="web-step-"))
    env = PlaywrightWebEnvironment(MiniWoBDriver(600_000), WebOptions(), screenshot_root=shots)
    result: dict[str, Any] = {"steps": {}, "resets": [], "rewards": []}
    try:
        for name, plan in SCRIPTS.items():
            for seed in seeds[:episodes]:
                task = tasks[name].model_copy(update={"meta": {"seed": seed, "run_id": "bench"}})
                started = time.perf_counter()
                obs = env.reset(task)
                result["resets"].append(time.perf_counter() - started)
                for verb, role, label, text in plan(env.objective):
                    node = find_id(obs.text, role, label)
                    line = f"type [{node}] [{text}] [0]" if verb == "type" else f"click [{node}]"
                    started = time.perf_counter()
                    obs = env.step(parse_action(f"```{line}```"))
                    result["steps"].setdefault(name, []).append(time.perf_counter() - started)
                result["rewards"].append(obs.reward or 0.0)
                result.setdefault("task_rewards", {}).setdefault(name, []).append(obs.reward or 0.0)
    finally:
        env.close()
    return result


def browsergym(episodes: int, seeds: list[int], *, tuned: bool) -> dict[str, Any]:
    import browsergym.miniwob  # noqa: F401  (registers the tasks)
    import gymnasium as gym
    from browsergym.utils.obs import flatten_axtree_to_str

    use_debian_chromium()
    extra = {"slow_mo": 0, "pre_observation_delay": 0.0} if tuned else {}
    result: dict[str, Any] = {"steps": {}, "resets": [], "rewards": []}
    for name, plan in SCRIPTS.items():
        env = gym.make(
            f"browsergym/miniwob.{name}",
            headless=True,
            pw_chromium_kwargs={"executable_path": "/usr/bin/chromium"},
            **extra,
        )
        try:
            for seed in seeds[:episodes]:
                started = time.perf_counter()
                obs, _ = env.reset(seed=seed)
                result["resets"].append(time.perf_counter() - started)
                reward = 0.0
                for verb, role, label, text in plan(obs["goal"]):
                    bid = find_id(flatten_axtree_to_str(obs["axtree_object"]), role, label)
                    action = f"fill('{bid}', {text!r})" if verb == "type" else f"click('{bid}')"
                    started = time.perf_counter()
                    obs, reward, *_ = env.step(action)
                    result["steps"].setdefault(name, []).append(time.perf_counter() - started)
                result["rewards"].append(float(reward))
                result.setdefault("task_rewards", {}).setdefault(name, []).append(float(reward))
        finally:
            env.close()
    return result


def use_debian_chromium() -> None:
    """BrowserGym's chat window launches a second browser with no way to pass an executable, so every
    Playwright launch in this process defaults to Debian's Chromium (never `playwright install`)."""
    from playwright.sync_api import BrowserType

    if getattr(BrowserType.launch, "debian", False):
        return
    original = BrowserType.launch

    def launch(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("executable_path", "/usr/bin/chromium")
        return original(self, *args, **kwargs)

    launch.debian = True  # type: ignore[attr-defined]
    BrowserType.launch = launch  # type: ignore[method-assign]


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    args = parser.parse_args()
    seeds = list(range(1, args.episodes + 1))
    os.environ["MINIWOB_URL"] = serve() + "/miniwob/"
    runs = {
        "agentevo": ours(args.episodes, seeds),
        "browsergym (as shipped)": browsergym(args.episodes, seeds, tuned=False),
        "browsergym (slow_mo 0, no delay)": browsergym(args.episodes, seeds, tuned=True),
    }
    rows = []
    for harness, r in runs.items():
        every = [s for steps in r["steps"].values() for s in steps]
        rows.append(
            {
                "harness": harness,
                "step_p50_ms": ms(every),
                "step_mean_ms": round(statistics.mean(every) * 1000, 1),
                "reset_p50_ms": ms(r["resets"]),
                "steps": len(every),
                "success": sum(x > 0 for x in r["rewards"]) / len(r["rewards"]),
                "per_task_p50_ms": {name: ms(v) for name, v in r["steps"].items()},
                "per_task_rewards": r.get("task_rewards", {}),
            }
        )
    ours_p50 = rows[0]["step_p50_ms"]
    for row in rows:
        row["ratio_ours_to_this"] = round(ours_p50 / row["step_p50_ms"], 3)
    header = ("harness", "step p50 ms", "mean ms", "reset p50 ms", "steps", "success", "ours/this")
    print(f"{header[0]:34} " + " ".join(f"{h:>12}" for h in header[1:]))
    for row in rows:
        cells = (row["step_p50_ms"], row["step_mean_ms"], row["reset_p50_ms"], row["steps"])
        extra = (f"{row['success']:.0%}", row["ratio_ours_to_this"])
        print(f"{row['harness']:34} " + " ".join(f"{c:>12}" for c in (*cells, *extra)))
    ratio = rows[0]["step_p50_ms"] / rows[1]["step_p50_ms"]
    print(f"step-latency ratio agentevo / browsergym (as shipped): {ratio:.3f} (goal <= 1.0)")
    out = ROOT / "bench" / "results" / "web_step.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "episodes_per_task": args.episodes,
                "tasks": list(SCRIPTS),
                "ratio": round(ratio, 3),
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
