"""The validation gate refuses unsafe and broken tools, names the rule, records it, and registers nothing."""

import pytest

from agentevo.errors import ToolRejected
from agentevo.records import Tool
from tests.tools.helpers import adder, code_tool, make_archive
from tests.tools.unsafe_corpus import CORPUS


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    a = make_archive(tmp_path_factory.mktemp("gate") / "tools_archive", test_timeout_s=3.0)
    yield a
    a.close()


def test_the_corpus_has_at_least_25_cases_with_distinct_labels():
    labels = [c[0] for c in CORPUS]
    assert len(labels) >= 25 and len(set(labels)) == len(labels)


@pytest.mark.parametrize(
    ("label", "kind", "name", "source", "tests", "code"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_the_gate_refuses_an_unsafe_or_broken_tool_and_names_why(
    archive, label, kind, name, source, tests, code
):
    tool = Tool(name=name, kind=kind, description="", source=source, tests=tests)
    with pytest.raises(ToolRejected) as info:
        archive.register(tool, origin="llm")
    assert code in info.value.reason, info.value.reason
    assert name not in archive.state()
    assert not (archive.root / name).exists()
    recorded = archive.registry.rejections(1)[0]
    assert (recorded.name, recorded.origin) == (name, "llm")
    assert recorded.code in info.value.reason


def test_a_new_version_that_breaks_the_old_tests_is_refused(tmp_path):
    archive = make_archive(tmp_path / "tools_archive")
    v1 = archive.register(adder())
    times = code_tool(
        "add_numbers",
        "return a * b",
        """
        from tool import add_numbers


        def test_multiplies_now():
            assert add_numbers(2, 2) == 4
            assert add_numbers(3, 3) == 9
        """,
        doc="Add two integers.",
    )
    with pytest.raises(ToolRejected) as info:
        archive.register(times)
    assert info.value.reason.startswith("old-tests-failed: v1's tests")
    assert archive.state() == {"add_numbers": 1}
    assert archive.get("add_numbers").source == v1.source


def test_a_new_version_that_keeps_the_old_behaviour_supersedes_it(tmp_path):
    archive = make_archive(tmp_path / "tools_archive")
    archive.register(adder())
    v2 = archive.register(adder(body="total = a\ntotal += b\nreturn total"))
    assert v2.version == 2 and archive.state() == {"add_numbers": 2}
    old = archive.registry.get("add_numbers", 1)
    assert (old.status, old.reason) == ("retired", "superseded by v2")
    assert sorted(p.name for p in (archive.root / "add_numbers").iterdir()) == ["v1", "v2"]


def test_a_tool_edited_after_registration_is_refused_at_load(tmp_path):
    from agentevo.tools.archive import ToolTampered

    archive = make_archive(tmp_path / "tools_archive")
    archive.register(adder())
    path = archive.root / "add_numbers" / "v1" / "tool.py"
    path.write_text(path.read_text().replace("return a + b", "return a + b  # and steal"))
    with pytest.raises(ToolTampered):
        archive.get("add_numbers")
    assert archive.search("add two integers", kind="code") == []
    assert archive.registry.events("add_numbers")[0].event == "tampered"


def test_the_same_behaviour_under_another_name_is_merged_not_added(tmp_path):
    archive = make_archive(tmp_path / "tools_archive")
    archive.register(adder())
    twin = archive.register(adder("sum_two", body="return b + a"))
    assert twin.name == "add_numbers" and archive.state() == {"add_numbers": 1}
    assert archive.registry.get("add_numbers", 1).aliases == ["sum_two"]
    assert archive.get("sum_two").name == "add_numbers"


def test_registering_the_identical_tool_twice_is_a_no_op(tmp_path):
    archive = make_archive(tmp_path / "tools_archive")
    first = archive.register(adder())
    again = archive.register(adder())
    assert (again.name, again.version) == (first.name, first.version)
    assert len(archive.registry.versions("add_numbers")) == 1
