"""Small text helpers for error messages: one line of an exception, a URL without its password."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when it has none), at most `limit` chars."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
