"""Answer normalisation and tokenisation shared by the string rules of every flavour."""

from __future__ import annotations

import functools
import re


def clean(answer: str, *, strip: bool = True) -> str:
    """WebArena's clean_answer: strip spaces (VAB-Lite doesn't), one pair of surrounding quotes, lowercase."""
    if strip:
        answer = answer.strip()
    for quote in ("'", '"'):
        if answer.startswith(quote) and answer.endswith(quote):
            answer = answer[1:-1]
            break
    return answer.lower()


@functools.cache
def punkt_available() -> bool:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return False
    return True


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def word_tokenize(text: str) -> list[str]:
    """NLTK's word_tokenize. Its sentence splitter (punkt) is a data download; when the data is absent
    the text is split into sentences at `.`, `!` or `?` followed by space instead, and each sentence goes
    through the same NLTK word tokenizer (the difference shows only around abbreviations)."""
    import nltk

    if punkt_available():
        return nltk.word_tokenize(text)
    return [
        tok
        for sentence in SENTENCE_END.split(text)
        for tok in nltk.word_tokenize(sentence, preserve_line=True)
    ]
