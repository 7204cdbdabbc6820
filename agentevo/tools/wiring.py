"""Opening the tool archive for a run (`agentevo run --tools on`, or `archive.enabled: true`) from its run
file: settings, replay environments and the LLM synthesiser. The learner itself is agentevo.tools.learner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentevo.tools.archive import FileToolArchive
from agentevo.tools.replay import SuiteEnvs
from agentevo.tools.settings import ArchiveSettings

if TYPE_CHECKING:
    from agentevo.config import RunConfig


def settings_for(cfg: RunConfig) -> ArchiveSettings:
    """The archive's settings; its sandbox follows the run's unless the archive names one."""
    options: dict[str, Any] = dict(cfg.archive.options)
    options.setdefault("sandbox", cfg.sandbox.backend)
    return ArchiveSettings.from_options(options)


def open_run_archive(cfg: RunConfig, folder: Path, **kw: Any) -> FileToolArchive:
    """The archive of a workspace (or a condition's folder), with replays in environments made like the
    run's own."""
    settings = settings_for(cfg)
    return FileToolArchive.for_workspace(folder, settings, envs=SuiteEnvs(folder, cfg), **kw)


def llm_synthesiser(archive: FileToolArchive, settings: ArchiveSettings, run_model: Any) -> Any:
    if settings.synthesiser not in ("llm", "both"):
        return None
    from agentevo.tools.synth import LLMSynthesiser

    model = run_model
    if settings.model:
        from agentevo.models import load_model

        model = load_model(settings.model)
    return LLMSynthesiser(model, archive, attempts=settings.attempts)
