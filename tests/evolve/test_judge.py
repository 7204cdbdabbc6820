from agentevo.evolve.judge import Agreement, LLMJudge
from agentevo.records import Action, Observation, Step, Task, Trajectory
from agentevo.testing import ScriptedModel

TRAJ = Trajectory(
    id="e",
    run_id="r",
    outcome="success",
    reward=1.0,
    task=Task(id="t", suite="s", kind="os", instruction="Count the files in /data"),
    steps=(
        Step(
            index=0,
            action=Action(name="bash", args={"script": "ls /data | wc -l"}, raw="ls /data | wc -l"),
            observation=Observation(text="3"),
        ),
    ),
)


def test_the_judge_reads_the_trajectory_and_parses_its_verdict():
    model = ScriptedModel(["It counted 3 files.\nVERDICT: SUCCESS"])
    verdict = LLMJudge(model).judge(TRAJ)
    assert verdict.success and verdict.parsed
    prompt = model.calls[0].messages[-1]["content"]
    assert "Count the files in /data" in prompt and "ls /data | wc -l" in prompt


def test_an_unparsable_verdict_is_a_failure_and_counted():
    verdict = LLMJudge(ScriptedModel(["I think so, probably."])).judge(TRAJ)
    assert not verdict.success and not verdict.parsed
    agreement = Agreement(model="m")
    agreement.add(verdict, truth=True)
    agreement.add(LLMJudge(ScriptedModel(["VERDICT: SUCCESS"])).judge(TRAJ), truth=False)
    assert agreement.to_json() == {
        "model": "m",
        "n": 2,
        "agree": 0,
        "rate": 0.0,
        "false_positive": 1,
        "false_negative": 1,
        "unparsed": 1,
    }
