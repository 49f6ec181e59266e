"""Pagination strategies: small objects that say which query parameters fetch a page and whether another follows.

- `SkipTopPaging`: accessplanit OData `$top`/`$skip`; the last page is the one shorter than `$top`.
- `PageNumberPaging`: Xero `page` (1-based) / `pageSize`; the last page is `page == pageCount` or a short page
  (some SDK versions saw no `pagination` object, so the short page is the safety net).
Must not: send requests, or know field names other than the paging ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class SkipTopPaging:
    """`$top=size&$skip=offset`. The position is the offset (rows already consumed)."""

    size: int = PAGE_SIZE

    def params(self, offset: int) -> dict[str, str]:
        return {"$top": str(self.size), "$skip": str(offset)}

    def next(self, offset: int, rows: int) -> int | None:
        """The next offset, or None when this page (of `rows` rows) was the last."""
        return None if rows < self.size else offset + rows


@dataclass(frozen=True, slots=True)
class PageNumberPaging:
    """`page=n&pageSize=size` (n from 1). The position is the page number to fetch."""

    size: int = PAGE_SIZE

    def params(self, page: int) -> dict[str, str]:
        return {"page": str(page), "pageSize": str(self.size)}

    def next(self, page: int, rows: int, body: Mapping[str, Any] | None = None) -> int | None:
        """The next page number, or None when `page` was the last (`pageCount` reached or a short page)."""
        if rows < self.size:
            return None
        info = (body or {}).get("pagination")
        if isinstance(info, Mapping):
            count = info.get("pageCount")
            if isinstance(count, int) and page >= count:
                return None
        return page + 1
