"""The gate's allow-list covers the pure standard library: a hand-written tool that parses CSV text registers
from the command line, while the modules and names that reach files, processes or the interpreter stay out."""

import json

import pytest

from agentevo.tools import rules
from tests.tools.helpers import BACKEND
from tests.tools.test_commands import process

CSV_TOOL = '''import csv
import io
import statistics


def column_mean(text: str, column: str) -> float:
    """Mean of one numeric column of CSV text with a header row."""
    rows = csv.DictReader(io.StringIO(text))
    return statistics.fmean(float(row[column]) for row in rows)
'''

CSV_TESTS = """from tool import column_mean


def test_mean_of_a_column():
    text = "name,price\\nbook,12.5\\npen,2.5\\n"
    assert column_mean(text, "price") == 7.5


def test_quoted_fields_with_commas():
    text = 'name,price\\n"chair, oak",30\\nlamp,10\\n'
    assert column_mean(text, "price") == 20.0
"""


def test_a_tool_that_parses_csv_text_registers_through_the_cli(tmp_path):
    folder = tmp_path / "column_mean"
    folder.mkdir()
    (folder / "tool.py").write_text(CSV_TOOL)
    (folder / "test_tool.py").write_text(CSV_TESTS)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    added = process("tools", "add", str(folder), "-w", str(workspace), "--sandbox", BACKEND, "--json")
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert (data["name"], data["version"]) == ("column_mean", 1)
    assert data["tests"].startswith("2 passed"), data["tests"]


PURE_USES = {
    "csv": "import csv\nrows = list(csv.reader(['a,b']))",
    "io.StringIO": "from io import StringIO\nbuf = StringIO('x')",
    "io.BytesIO": "import io\nbuf = io.BytesIO(b'x')",
    "statistics": "import statistics\nm = statistics.median([1, 2, 3])",
    "decimal": "from decimal import Decimal\nd = Decimal('1.10')",
    "fractions": "import fractions\nf = fractions.Fraction(1, 3)",
    "datetime": "import datetime\nd = datetime.date(2024, 1, 2).isoformat()",
    "calendar": "import calendar\nn = calendar.monthrange(2024, 2)",
    "textwrap": "import textwrap\nt = textwrap.fill('a b c', 3)",
    "string": "import string\nt = string.Template('$x').substitute(x=1)",
    "re": "import re\nm = re.findall(r'\\d+', 'a1b22')",
    "math and cmath": "import math\nimport cmath\nx = math.sqrt(2) + cmath.phase(1j)",
    "json": "import json\nx = json.loads('[1]')",
    "itertools, functools, operator": (
        "import functools\nimport itertools\nimport operator\n"
        "x = functools.reduce(operator.add, itertools.chain([1], [2]))"
    ),
    "attrgetter with a plain name": "from operator import attrgetter\nk = attrgetter('real')",
    "collections": "import collections\nc = collections.Counter('aab')",
    "collections.abc": "import collections.abc\nok = isinstance([], collections.abc.Sequence)",
    "heapq and bisect": "import bisect\nimport heapq\nx = heapq.nsmallest(1, [3]) + [bisect.bisect([1], 2)]",
    "dataclasses and enum": "import dataclasses\nimport enum\nE = enum.Enum('E', 'A')\nf = dataclasses.field",
    "typing": "from typing import Optional\nx: Optional[int] = None",
    "uuid4 and uuid5": "import uuid\nu = uuid.uuid5(uuid.NAMESPACE_URL, 'x')",
    "hashlib, hmac, base64": (
        "import base64\nimport hashlib\nimport hmac\n"
        "h = base64.b64encode(hmac.new(b'k', b'm', hashlib.sha256).digest())"
    ),
    "difflib": "import difflib\nr = difflib.SequenceMatcher(None, 'ab', 'ac').ratio()",
    "unicodedata": "import unicodedata\nn = unicodedata.normalize('NFC', 'e')",
    "html": "import html\ns = html.escape('<a>')",
    "copy, numbers, random": "import copy\nimport numbers\nimport random\nx = copy.copy([random.random()])",
    "graphlib": "import graphlib\norder = list(graphlib.TopologicalSorter({'a': {'b'}}).static_order())",
    "ipaddress": "import ipaddress\nn = ipaddress.ip_network('10.0.0.0/8')",
    "contextlib.suppress": "import contextlib\nc = contextlib.suppress(KeyError)",
    "a forward reference": "def f(x: 'int') -> 'list[int]':\n    return [x]",
}


@pytest.mark.parametrize("source", PURE_USES.values(), ids=PURE_USES.keys())
def test_pure_standard_library_modules_pass_the_rules(source):
    assert rules.check_module(rules.parse(source, "tool.py"), kind="code") == []


REFUSED_MODULES = [
    "os", "sys", "pathlib", "shutil", "subprocess", "socket", "urllib.request", "importlib", "ctypes",
    "pickle", "marshal", "tempfile", "glob", "shelve", "sqlite3", "multiprocessing", "threading", "time",
    "types", "inspect", "builtins", "gc", "zoneinfo", "locale", "signal", "atexit", "code", "codecs",
]  # fmt: skip


@pytest.mark.parametrize("module", REFUSED_MODULES)
def test_modules_that_reach_files_processes_or_the_interpreter_stay_refused(module):
    found = rules.check_module(rules.parse(f"import {module}\n", "tool.py"), kind="code")
    assert [v.code for v in found] == ["forbidden-import"]


def test_a_function_using_a_module_imported_below_it_is_still_checked():
    source = "def f() -> int:\n    return io.open('x')\n\n\nimport io\n"
    assert [v.code for v in rules.check_module(rules.parse(source, "tool.py"), kind="code")] == [
        "module-attribute"
    ]


def test_an_accessor_renamed_on_import_is_refused():
    source = "from operator import attrgetter as pick\nf = pick('_' * 2 + 'globals__')\n"
    assert [v.code for v in rules.check_module(rules.parse(source, "tool.py"), kind="code")] == [
        "dynamic-attribute"
    ]
