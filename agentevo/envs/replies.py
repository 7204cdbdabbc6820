"""What environments read out of a model's reply: the contents of its fenced code blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence

FENCED = re.compile(r"```[ \t]*([\w+.-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)


def fenced_blocks(text: str, languages: Sequence[str] = ()) -> list[str]:
    """Contents of ``` blocks (an unclosed last block counts: the model may have hit its token limit)."""
    wanted = {lang.lower() for lang in languages}
    return [body for lang, body in FENCED.findall(text) if not wanted or lang.lower() in wanted or not lang]
