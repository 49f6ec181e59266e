"""Pagination strategies: small objects that say which query parameters fetch a page and whether another follows.

- `SkipTopPaging`: accessplanit OData `$top`/`$skip`/`$count=true`; the last page is an empty one, or the one that
  reaches the `count` the service reported. Never a short page: a tenant may cap `$top` below what we ask.
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
    """`$top=size&$skip=offset&$count=true`. The position is the offset (rows already consumed).

    The service may answer fewer rows than `$top` (its own cap is not documented), so a short page proves
    nothing: a query ends on an empty page, or when `offset + rows` reaches the `count` it reported (the number
    of matches before `$skip`/`$top`, asked on every page so that this usually saves the empty call)."""

    size: int = PAGE_SIZE

    def params(self, offset: int) -> dict[str, str]:
        return {"$top": str(self.size), "$skip": str(offset), "$count": "true"}

    def next(self, offset: int, rows: int, total: int | None = None) -> int | None:
        """The next offset, or None when this page (of `rows` rows, `total` matches if the service said) was the
        last."""
        if rows == 0 or (total is not None and offset + rows >= total):
            return None
        return offset + rows


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
