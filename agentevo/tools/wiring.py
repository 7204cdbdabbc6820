"""Tools in a run (`agentevo run --tools on`, or `archive.enabled: true`): archived tools are offered to every
episode, and each successful episode may add one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentevo.agent.graph import NoRecall
from agentevo.agent.recall import CombinedRecall
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.learn import ToolLearner, chain
from agentevo.tools.recall import ToolRecall
from agentevo.tools.replay import SuiteEnvs
from agentevo.tools.settings import ArchiveSettings

if TYPE_CHECKING:
    from agentevo.config import RunConfig
    from agentevo.runs.runner import Runner


def settings_for(cfg: RunConfig) -> ArchiveSettings:
    """The archive's settings; its sandbox follows the run's unless the archive names one."""
    options: dict[str, Any] = dict(cfg.archive.options)
    options.setdefault("sandbox", cfg.sandbox.backend)
    return ArchiveSettings.from_options(options)


def attach_tools(runner: Runner, *, model: Any = None) -> FileToolArchive:
    """Offer archived tools to the runner's episodes and learn tools from its successes."""
    cfg = runner.config
    settings = settings_for(cfg)
    archive = FileToolArchive.for_workspace(runner.workspace, settings, envs=SuiteEnvs(runner.workspace, cfg))
    recall = ToolRecall(archive, k=cfg.archive.k)
    runner.recaller = (
        recall if isinstance(runner.recaller, NoRecall) else CombinedRecall([runner.recaller, recall])
    )
    if settings.synthesiser != "off":
        learner = ToolLearner(
            archive,
            compiler=settings.synthesiser in ("compiler", "both"),
            synthesiser=llm_synthesiser(archive, settings, model or runner.model),
        )
        runner.on_trajectory = chain(runner.on_trajectory, learner)
    return archive


def llm_synthesiser(archive: FileToolArchive, settings: ArchiveSettings, run_model: Any) -> Any:
    if settings.synthesiser not in ("llm", "both"):
        return None
    from agentevo.tools.synth import LLMSynthesiser

    model = run_model
    if settings.model:
        from agentevo.models import load_model

        model = load_model(settings.model)
    return LLMSynthesiser(model, archive, attempts=settings.attempts)


def archive_state(cfg: RunConfig, workspace: Any) -> dict[str, int]:
    """Active tool versions at the start of a run, for its manifest."""
    if not cfg.archive.enabled:
        return {}
    return FileToolArchive.for_workspace(workspace, settings_for(cfg)).state()
