"""Xero's `where` and `order` query parameters: a small parser and evaluator over wire-format records.

Responsibility: turn `Type=="ACCREC" AND (Status=="PAID" OR Date>=DateTime(2026,10,01))` into a predicate over the
JSON dicts the emulator stores, and `UpdatedDateUTC ASC, InvoiceNumber DESC` into a sort key. Supported: `==`, `!=`,
`>=`, `<=`, `>`, `<`, `AND`/`&&`, `OR`/`||`, `NOT`/`!`, parentheses, `DateTime(y,m,d[,h,m,s])`, `Guid("...")`,
dotted paths (`Contact.ContactID`), string/number/bool/null literals, and the string methods `Contains`,
`StartsWith`, `EndsWith`, `ToLower()`, `ToUpper()`. It must not touch storage or HTTP; a bad expression raises
`QueryError` (the caller answers 400).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .wire import date_to_ms, to_decimal, wire_ms

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class QueryError(ValueError):
    """The `where` or `order` text cannot be parsed, or names a field the collection does not have."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||>|<|!|=)
      | (?P<punct>[(),.])
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError(f"cannot parse the where clause near {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
    return tokens


class _Date:
    """A `DateTime(...)` literal, compared as Unix ms with the record's `/Date()/` values."""

    def __init__(self, ms: int) -> None:
        self.ms = ms


class _Guid:
    def __init__(self, text: str) -> None:
        self.text = text.lower()


Value = Callable[[Record], Any]


def _lookup(record: Any, path: tuple[str, ...]) -> Any:
    current = record
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _normalise(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Bring two operands to one comparable type; None when they cannot be compared (the row does not match)."""
    if isinstance(right, _Date) or isinstance(left, _Date):
        lms = left.ms if isinstance(left, _Date) else wire_ms(left)
        rms = right.ms if isinstance(right, _Date) else wire_ms(right)
        return None if lms is None or rms is None else (lms, rms)
    if isinstance(right, _Guid) or isinstance(left, _Guid):
        ltext = left.text if isinstance(left, _Guid) else str(left).lower() if left is not None else None
        rtext = right.text if isinstance(right, _Guid) else str(right).lower() if right is not None else None
        return None if ltext is None or rtext is None else (ltext, rtext)
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    if isinstance(left, (int, Decimal)) or isinstance(right, (int, Decimal)):
        lnum, rnum = to_decimal(left), to_decimal(right)
        return None if lnum is None or rnum is None else (lnum, rnum)
    if isinstance(left, str) and isinstance(right, str):
        # String comparison is case-insensitive [ours: Xero's SQL collation behaves this way in practice].
        return (left.casefold(), right.casefold())
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        if op == "==":
            return left is None and right is None
        if op == "!=":
            return (left is None) != (right is None)
        return False
    pair = _normalise(left, right)
    if pair is None:
        return op == "!="
    a, b = pair
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == ">=":
            return bool(a >= b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a < b)
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list[_Tok], fields: frozenset[str] | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.fields = fields

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise QueryError("the where clause ends too early")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise QueryError(f"expected {text!r} in the where clause, found {tok.text!r}")

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and (tok.text.upper() in words or tok.text in words):
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        pred = self.or_expr()
        rest = self.peek()
        if rest is not None:
            raise QueryError(f"unexpected {rest.text!r} in the where clause")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("OR", "||"):
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("AND", "&&"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda r: all(p(r) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("NOT", "!"):
            inner = self.unary()
            return lambda r: not inner(r)
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text not in ("&&", "||", "!"):
            self.take()
            op = "==" if tok.text == "=" else tok.text
            right = self.operand()
            return lambda r: _compare(op, left(r), right(r))
        # A bare operand is a boolean test: `IsCustomer` or `Name.Contains("x")`.
        return lambda r: left(r) is True

    def operand(self) -> Value:
        tok = self.take()
        if tok.kind == "string":
            text = bytes(tok.text[1:-1], "utf-8").decode("unicode_escape")
            return lambda r: text
        if tok.kind == "number":
            number = Decimal(tok.text)
            return lambda r: number
        if tok.kind == "op" and tok.text == "!":
            raise QueryError("misplaced '!' in the where clause")
        if tok.kind != "ident":
            raise QueryError(f"unexpected {tok.text!r} in the where clause")
        word = tok.text
        if word.lower() in ("true", "false"):
            flag = word.lower() == "true"
            return lambda r: flag
        if word.lower() == "null":
            return lambda r: None
        nxt = self.peek()
        if word in ("DateTime", "DateTimeOffset") and nxt is not None and nxt.text == "(":
            return self.datetime_literal()
        if word == "Guid" and nxt is not None and nxt.text == "(":
            self.take()
            arg = self.take()
            if arg.kind != "string":
                raise QueryError("Guid(...) takes a quoted string")
            self.expect(")")
            guid = _Guid(arg.text[1:-1])
            return lambda r: guid
        return self.path(word)

    def datetime_literal(self) -> Value:
        self.expect("(")
        numbers: list[int] = []
        while True:
            tok = self.take()
            if tok.kind != "number":
                raise QueryError("DateTime(...) takes numbers: DateTime(2026,10,01)")
            numbers.append(int(tok.text))
            sep = self.take()
            if sep.text == ")":
                break
            if sep.text != ",":
                raise QueryError("DateTime(...) takes comma-separated numbers")
        if len(numbers) < 3 or len(numbers) > 6:
            raise QueryError("DateTime(...) takes 3 to 6 numbers")
        try:
            parts = numbers + [0] * (6 - len(numbers))
            moment = dt.datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], tzinfo=dt.UTC)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"invalid DateTime: {exc}") from exc
        day_ms = date_to_ms(moment.date())
        literal = _Date(day_ms + ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000)
        return lambda r: literal

    def path(self, first: str) -> Value:
        if self.fields is not None and first not in self.fields:
            raise QueryError(f"No property or field '{first}' exists")
        parts = [first]
        while True:
            tok = self.peek()
            if tok is None or tok.text != ".":
                break
            self.take()
            name = self.take()
            if name.kind != "ident":
                raise QueryError("a field name must follow '.'")
            after = self.peek()
            if after is not None and after.text == "(":
                return self.method(tuple(parts), name.text)
            parts.append(name.text)
        path = tuple(parts)
        return lambda r: _lookup(r, path)

    def method(self, path: tuple[str, ...], name: str) -> Value:
        self.expect("(")
        args: list[str] = []
        while True:
            tok = self.take()
            if tok.text == ")":
                break
            if tok.kind == "string":
                args.append(bytes(tok.text[1:-1], "utf-8").decode("unicode_escape"))
            elif tok.text != ",":
                raise QueryError(f"{name}(...) takes quoted strings")
        lowered = name.lower()

        def text_of(r: Record) -> str | None:
            value = _lookup(r, path)
            return value if isinstance(value, str) else None

        if lowered in ("tolower", "toupper") and not args:
            upper = lowered == "toupper"

            def cased(r: Record) -> str | None:
                value = text_of(r)
                return None if value is None else value.upper() if upper else value.lower()

            return cased
        if lowered in ("contains", "startswith", "endswith") and len(args) == 1:
            needle = args[0].casefold()

            def test(r: Record) -> bool:
                value = text_of(r)
                if value is None:
                    return False
                hay = value.casefold()
                if lowered == "contains":
                    return needle in hay
                if lowered == "startswith":
                    return hay.startswith(needle)
                return hay.endswith(needle)

            return test
        raise QueryError(f"unsupported method {name} in the where clause")


def compile_where(text: str, fields: Iterable[str] | None = None) -> Predicate:
    """A predicate for one `where` text. `fields` (top-level names of the collection) makes unknown names an error,
    as on the real API, instead of silently matching nothing."""
    tokens = _tokenize(text)
    if not tokens:
        return lambda r: True
    return _Parser(tokens, frozenset(fields) if fields is not None else None).parse()


def _sort_key(path: tuple[str, ...]) -> Callable[[Any], tuple[int, Any]]:
    """The sort key of one order-by field (a closure per field, so each key binds its own path)."""
    return lambda record: _sort_value(_lookup(record, path))


def _sort_value(value: Any) -> tuple[int, Any]:
    """Rank types so that mixed or missing values sort deterministically (missing first, as SQL NULLs do)."""
    if value is None:
        return (0, 0)
    ms = wire_ms(value)
    if ms is not None:
        return (1, ms)
    if isinstance(value, bool):
        return (2, int(value))
    number = to_decimal(value) if not isinstance(value, str) else None
    if number is not None:
        return (3, number)
    return (4, str(value).casefold())


def compile_order(text: str, fields: Iterable[str] | None = None) -> Callable[[list[Any]], list[Any]]:
    """A function that sorts records by `Field [ASC|DESC], ...` (stable, so ties keep the default order)."""
    known = frozenset(fields) if fields is not None else None
    keys: list[tuple[tuple[str, ...], bool]] = []
    for chunk in text.split(","):
        words = chunk.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryError(f"cannot parse the order clause {chunk.strip()!r}")
        path = tuple(words[0].split("."))
        if known is not None and path[0] not in known:
            raise QueryError(f"No property or field '{path[0]}' exists")
        keys.append((path, len(words) == 2 and words[1].upper() == "DESC"))

    def sort(rows: list[Any]) -> list[Any]:
        # One stable sort per key, last key first: key functions, not a comparator, so 1M rows stay fast.
        result = list(rows)
        for path, desc in reversed(keys):
            result.sort(key=_sort_key(path), reverse=desc)
        return result

    return sort
