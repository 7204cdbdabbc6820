"""WebArena and WebArena-Lite: configs, evaluators (three flavours), suites, and `agentevo score`.

configs      read / substitute placeholders / validate / Task
evaluators   string_match, url_match, program_html (+ judge, func helpers)
driver       how a config task runs in the web environment (login state, start tabs, scoring)
suites       webarena, webarena-lite, a user's --suite-file, and `config_suite` for suites of one's own
score        score_config: an answer and a page against one config, with no agent (`agentevo score`)
"""

from agentevo.benchmarks.webarena.suites import WEBARENA, WEBARENA_LITE, config_suite, file_suite

__all__ = ["WEBARENA", "WEBARENA_LITE", "config_suite", "file_suite"]
