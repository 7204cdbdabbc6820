"""Pages of a long list: every list in the workbench is read one page at a time (SQL LIMIT/OFFSET)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    number: int  # from 1
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.size)


def int_param(request: Request, name: str, default: int, lo: int = 0, hi: int | None = None) -> int:
    raw = request.query_params.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    value = max(lo, value)
    return min(hi, value) if hi is not None else value


def page_of(request: Request, total: int, size: int = PAGE_SIZE) -> Page:
    size = int_param(request, "size", size, 1, MAX_PAGE_SIZE)
    pages = max(1, -(-total // size))
    return Page(int_param(request, "page", 1, 1, pages), size, total)
