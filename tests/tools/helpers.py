"""Builders shared by the tool-archive tests."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from agentevo.envs.sandbox.bwrap import available
from agentevo.records import Tool
from agentevo.testing import HashEmbedder
from agentevo.tools.archive import FileToolArchive
from agentevo.tools.settings import ArchiveSettings

BACKEND = "bwrap" if available() else "local"


def make_archive(root: Path, envs=None, **settings) -> FileToolArchive:
    opts = {"sandbox": BACKEND, "test_timeout_s": 5.0, "call_timeout_s": 5.0, "embedder": "hash", **settings}
    return FileToolArchive(root, settings=ArchiveSettings(**opts), embedder=HashEmbedder(), envs=envs)


def code_tool(
    name: str, body: str, tests: str, *, doc: str = "", params: str = "a: int, b: int", returns: str = "int"
) -> Tool:
    doc = doc or f"{name.replace('_', ' ').capitalize()}."
    source = f'def {name}({params}) -> {returns}:\n    """{doc}"""\n' + "".join(
        "    " + line + "\n" for line in dedent(body).strip().splitlines()
    )
    return Tool(name=name, kind="code", description="", source=source, tests=dedent(tests).lstrip())


def adder(name: str = "add_numbers", body: str = "return a + b") -> Tool:
    tests = f"""
        from tool import {name}


        def test_adds():
            assert {name}(2, 3) == 5
            assert {name}(-1, 1) == 0
    """
    return code_tool(name, body, tests, doc="Add two integers.")
