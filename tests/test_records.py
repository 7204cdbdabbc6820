from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agentevo.records import (
    Action,
    ExecResult,
    Experience,
    ModelReply,
    Observation,
    RunManifest,
    Scope,
    Step,
    Task,
    Tool,
    ToolCall,
    Trajectory,
)

TASK = Task(id="t1", suite="s", kind="code", instruction="do it", template_id="tpl", meta={"x": [1, 2]})
STEP = Step(
    index=0,
    action=Action(name="submit", args={"code": "x"}),
    observation=Observation(text="ok", done=True),
    model_reply="```x```",
    tokens_in=3,
    tokens_out=4,
    retrieved=("m1",),
)
EXAMPLES = [
    TASK,
    STEP,
    Trajectory(
        id="e1",
        run_id="r1",
        task=TASK,
        steps=(STEP,),
        messages=({"role": "user", "content": "hi"},),
        outcome="success",
        reward=1.0,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ),
    Experience(
        id="x1",
        kind="workflow",
        title="t",
        content="c",
        scope=Scope(suite="s"),
        demonstration=({"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}),
    ),
    Tool(name="add", description="adds", kind="code", source="def add(a: int, b: int) -> int: ..."),
    ModelReply(text="hi", tool_calls=(ToolCall(name="f", arguments={"a": 1}),)),
    ExecResult(stdout="x", exit_code=1, killed="timeout"),
    RunManifest(run_id="r", model="m", suite="s", split="test", seeds=(0, 1)),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record):
    assert type(record).model_validate_json(record.model_dump_json()) == record


def test_records_are_frozen_and_reject_unknown_fields():
    with pytest.raises(ValidationError):
        TASK.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Task(id="t", suite="s", kind="code", instruction="i", colour="red")  # type: ignore[call-arg]


def test_trajectory_totals_come_from_its_steps():
    traj = EXAMPLES[2]
    assert traj.tokens == 7
    assert traj.succeeded
