"""Constrained decoding end to end: the default local engine (llama.cpp), a live page in Chromium, the agent
graph. Every reply must be an action the page accepts: parsed, and naming only ids the page showed."""

from __future__ import annotations

import numpy as np
import pytest

from agentevo.agent.episode import run_episode
from agentevo.agent.graph import Episode
from agentevo.config import LimitsConfig, ModelConfig
from agentevo.constrain import Guide, for_reply, llama_lltokenizer, web_ids
from agentevo.envs.web import PlaywrightWebEnvironment, WebOptions
from agentevo.envs.web.actions import parse_action
from agentevo.errors import ModelError
from agentevo.models import load_model
from agentevo.records import Observation, Task
from tests.envs.web.pages import page, serve

pytestmark = pytest.mark.slow

PAGES = {
    "/": page(
        "Sign in",
        "<h1>Sign in</h1><label for=u>Username</label><input id=u>"
        "<label for=p>Password</label><input id=p type=password><button>Log in</button>"
        "<a href='/help'>Help</a>",
    ),
    "/help": page("Help", "<h2>Help</h2><p>Ask an administrator.</p><a href='/'>Back to sign in</a>"),
}
ID_VERBS = ("click", "hover", "type")


class Watched:
    """The real web environment, remembering the observation each reply was made against."""

    def __init__(self, env: PlaywrightWebEnvironment) -> None:
        self.env = env
        self.kind = env.kind
        self.shown: list[Observation] = []
        self.actions: list[tuple[str, str, set[str]]] = []

    def reset(self, task: Task) -> Observation:
        self.shown.append(self.env.reset(task))
        return self.shown[-1]

    def step(self, action):
        if action.name in ID_VERBS:
            self.actions.append((action.name, str(action.args["id"]), set(web_ids(self.shown[-1].text))))
        self.shown.append(self.env.step(action))
        return self.shown[-1]

    def __getattr__(self, name):
        return getattr(self.env, name)


@pytest.fixture(scope="module")
def model():
    return load_model(ModelConfig(name="local/smollm2", max_tokens=96))


@pytest.fixture(scope="module")
def site():
    with serve(PAGES) as url:
        yield url


def test_every_constrained_reply_in_a_live_web_episode_is_a_valid_action_on_the_page(model, site, tmp_path):
    assert model.engine.name == "llama" and model.constrains  # the defaults for a local model
    env = Watched(PlaywrightWebEnvironment(options=WebOptions(max_obs_tokens=0), screenshot_root=tmp_path))
    task = Task(
        id="login", suite="test", kind="web", instruction="Open the help page.", meta={"start_url": site}
    )
    try:
        ep = Episode(env=env, model=model, limits=LimitsConfig(max_steps=6))
        traj = run_episode(task, ep, episode_id="live-web")
    finally:
        env.env.close()
    assert traj.steps, "the episode took no step"
    for step in traj.steps:
        assert step.error is None, step.model_reply  # every reply parsed into an action
        assert step.action is not None
    for verb, element, shown in env.actions:
        assert element in shown, (verb, element, sorted(shown))  # only ids the page showed
    assert not any("no element" in (o.error or "") for o in env.shown)


def test_an_id_that_is_not_on_the_page_can_never_be_produced(model):
    observation = Observation(
        text="Tab 0 (current): Sign in\n\n[1] RootWebArea 'Sign in'\n\t[11] textbox 'Username'\n"
        "\t[17] button 'Log in'",
        meta={"tabs": ["Sign in"]},
    )
    constraint = for_reply("web", observation, ())
    # the model is asked outright for an id the page does not have, and still cannot write it
    asked = [
        {"role": "system", "content": "Reply with one action between triple backticks."},
        {"role": "user", "content": observation.text + "\nReply exactly: ```click [99]```"},
    ]
    reply = model.complete(asked, constraint=constraint)
    action = parse_action(reply.text)
    assert action.name not in ID_VERBS or action.args["id"] in {"1", "11", "17"}, reply.text
    # and token by token: llama.cpp's own vocabulary cannot spell it past the grammar
    guide = Guide(llama_lltokenizer(model.engine.load().llm), constraint)
    tokenizer = guide.tokenizer
    prefix = tokenizer.tokenize_str("Click the box.\n```click [")
    for token in prefix:
        guide.consume(token)
    allowed = set(guide.allowed().tolist())
    assert not {tokenizer.tokenize_str(t)[0] for t in ("9", "99", "2", "5")} & allowed
    with pytest.raises(ModelError):
        guide.consume(tokenizer.tokenize_str("99")[0])


def test_random_walks_through_llama_cpps_vocabulary_only_ever_name_ids_on_the_page(model):
    observation = Observation(
        text="Tab 0 (current): Shop\n\n[1] RootWebArea 'Shop'\n\t[4] link 'Cart'\n\t[23] button 'Buy'",
        meta={"tabs": ["Shop"]},
    )
    constraint = for_reply("web", observation, ())
    lltok = llama_lltokenizer(model.engine.load().llm)
    rng = np.random.default_rng(7)
    done = 0
    for _ in range(40):
        guide, out = Guide(lltok, constraint), []
        for _ in range(120):
            allowed = guide.allowed()
            token = int(rng.choice(allowed)) if rng.random() < 0.5 else int(allowed.min())
            guide.consume(token)
            if token == lltok.eos_token:
                break
            out.append(token)
            if guide.finished:
                break
        if not guide.accepting:
            continue
        done += 1
        action = parse_action(lltok.decode_str(out))
        assert action.name not in ID_VERBS or action.args["id"] in {"1", "4", "23"}
    assert done >= 10
