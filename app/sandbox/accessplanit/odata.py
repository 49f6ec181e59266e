"""The accessplanit emulator's OData query options: `$filter` compiled to a Python predicate over wire
records, `$orderby` to sort keys, plus the analyses the store uses (the ID range of a filter, whether a
filter pins `InvoiceID`, and the key constraint an index can answer).

Parsing is `odata_query`'s grammar; evaluation is ours. It knows nothing of HTTP or of the store's layout, and
must not import anything from the rest of `app`.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]
# Resolves a property name as the client spelled it to the module's canonical name, or raises QueryError.
Resolver = Callable[[str], str]


class QueryError(ValueError):
    """A query option the emulator rejects with 400; `field` names the option or property."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


_NUMERIC = re.compile(r"^[+-]?\d+(\.\d+)?$")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# sly parsers keep state on the instance; one shared parser behind a lock is cheaper than one per request.
_PARSE_LOCK = threading.Lock()
_LEXER = ODataLexer()
_PARSER = ODataParser()


def parse_filter(text: str) -> ast._Node:
    with _PARSE_LOCK:
        try:
            node = _PARSER.parse(_LEXER.tokenize(text))
        except ODataException as exc:
            raise QueryError(f"$filter could not be parsed: {exc}", "$filter") from None
        except Exception as exc:  # the grammar raises plain errors on some inputs (e.g. an empty string)
            raise QueryError(f"$filter could not be parsed: {exc}", "$filter") from None
    if not isinstance(node, ast._Node):  # sly's parse() is untyped; the grammar's start rule gives a node
        raise QueryError("$filter could not be parsed", "$filter")
    return node


# ---- value coercion ----------------------------------------------------------------------------------


def as_number(value: Any) -> Decimal | None:
    """A number from a field or literal: JSON numbers and numeric strings (IDs are numeric strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and _NUMERIC.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def as_datetime(value: Any) -> datetime | None:
    """An ISO date or datetime string as a naive datetime; an offset is dropped (wire times are local)."""
    if not isinstance(value, str) or not _DATE_LIKE.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def sort_key(value: Any) -> tuple[int, Any]:
    """A total order over wire values: nulls first, then numbers (numeric strings too), then text."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, Decimal(int(value)))
    number = as_number(value)
    if number is not None:
        return (1, number)
    if isinstance(value, str):
        return (2, value.casefold())
    return (3, str(value))


# ---- literals ----------------------------------------------------------------------------------------


class _Lit:
    """A literal with the forms it may be compared in, worked out once per query rather than once per row."""

    __slots__ = ("is_null", "number", "raw", "text", "when", "when_text")

    def __init__(self, node: ast._Node) -> None:
        self.is_null = isinstance(node, ast.Null)
        self.number: Decimal | None = None
        self.when: datetime | None = None
        self.text: str | None = None
        self.raw: Any = None
        if isinstance(node, ast.String):
            self.raw = node.val
            self.text = node.val.casefold()
            self.number = as_number(node.val)  # C1 quotes numbers: ID gt '1200'
            self.when = as_datetime(node.val)  # quoted datetimes are accepted too
        elif isinstance(node, ast.Integer | ast.Float):
            self.raw = node.val
            self.number = Decimal(node.val)
        elif isinstance(node, ast.Date | ast.DateTime):
            self.raw = node.val
            self.when = as_datetime(node.val)
            if self.when is None:
                raise QueryError(f"$filter has an invalid date {node.val!r}", "$filter")
        elif isinstance(node, ast.Boolean):
            self.raw = node.val.lower() == "true"
        elif isinstance(node, ast.GUID):
            self.raw = node.val
            self.text = node.val.casefold()
        elif not self.is_null:
            raise QueryError(f"$filter literal {type(node).__name__} is not supported", "$filter")
        # Wire datetimes (`2026-10-14T00:00:00`) order as text, which spares a parse per row.
        self.when_text = self.when.strftime("%Y-%m-%dT%H:%M:%S") if self.when is not None else None


def _order(field: Any, lit: _Lit) -> int | None:
    """-1/0/1 comparing a field value with a literal, or None when they are not comparable."""
    if field is None or lit.is_null:
        return None
    if isinstance(lit.raw, bool):
        if isinstance(field, bool):
            return (field > lit.raw) - (field < lit.raw)
        return None
    if lit.when_text is not None and isinstance(field, str) and len(field) == 19 and field[10] == "T":
        return (field > lit.when_text) - (field < lit.when_text)
    if lit.number is not None:
        number = as_number(field)
        if number is not None:
            return (number > lit.number) - (number < lit.number)
    if lit.when is not None:
        when = as_datetime(field)
        if when is not None:
            return (when > lit.when) - (when < lit.when)
    if lit.text is not None and isinstance(field, str):
        text = field.casefold()  # SQL Server's default collation is case-insensitive
        return (text > lit.text) - (text < lit.text)
    return None


_MIRROR: dict[type, type] = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
}
_TESTS: dict[type, Callable[[int], bool]] = {
    ast.Eq: lambda c: c == 0,
    ast.NotEq: lambda c: c != 0,
    ast.Lt: lambda c: c < 0,
    ast.LtE: lambda c: c <= 0,
    ast.Gt: lambda c: c > 0,
    ast.GtE: lambda c: c >= 0,
}


def _comparison(node: ast.Compare, resolve: Resolver) -> tuple[str, type, ast._Node]:
    """(canonical property, comparator type, literal node), with `'x' eq Prop` turned round."""
    left, right, op = node.left, node.right, type(node.comparator)
    if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier) and op in _MIRROR:
        left, right, op = right, left, _MIRROR[op]
    if not isinstance(left, ast.Identifier):
        raise QueryError("$filter comparisons need a property on one side", "$filter")
    if isinstance(right, ast.Identifier):
        raise QueryError("$filter cannot compare two properties", "$filter")
    return resolve(left.name), op, right


# ---- compiling ---------------------------------------------------------------------------------------


def compile_filter(node: ast._Node, resolve: Resolver) -> Predicate:
    """A predicate over wire records for the parsed `$filter`; QueryError for what we do not support."""
    if isinstance(node, ast.BoolOp):
        left = compile_filter(node.left, resolve)
        right = compile_filter(node.right, resolve)
        if isinstance(node.op, ast.And):
            return lambda r: left(r) and right(r)
        return lambda r: left(r) or right(r)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = compile_filter(node.operand, resolve)
        return lambda r: not inner(r)
    if isinstance(node, ast.Identifier):  # a bare boolean property: `$filter=CF_Include_on_web`
        name = resolve(node.name)
        return lambda r: r.get(name) is True
    if isinstance(node, ast.Compare):
        return _compile_compare(node, resolve)
    if isinstance(node, ast.Call):
        return _compile_call(node, resolve)
    if isinstance(node, ast.Boolean):
        value = node.val.lower() == "true"
        return lambda r: value
    raise QueryError(f"$filter expression {type(node).__name__} is not supported", "$filter")


def _compile_compare(node: ast.Compare, resolve: Resolver) -> Predicate:
    name, op, right = _comparison(node, resolve)
    if op is ast.In:
        if not isinstance(right, ast.List):
            raise QueryError("$filter 'in' needs a list: Prop in ('a','b')", "$filter")
        lits = [_Lit(item) for item in right.val]
        return lambda r: any(_order(r.get(name), lit) == 0 for lit in lits)
    lit = _Lit(right)
    if lit.is_null:
        if op is ast.Eq:
            return lambda r: r.get(name) is None
        if op is ast.NotEq:
            return lambda r: r.get(name) is not None
        return lambda r: False
    test = _TESTS[op]
    if op is ast.NotEq:
        # `ne` holds for nulls and values of another kind, as in SQL's `IS DISTINCT FROM`.
        def not_equal(r: Record) -> bool:
            c = _order(r.get(name), lit)
            return c is None or c != 0

        return not_equal

    def compare(r: Record) -> bool:
        c = _order(r.get(name), lit)
        return c is not None and test(c)

    return compare


_TEXT_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda field, arg: arg in field,
    "startswith": lambda field, arg: field.startswith(arg),
    "endswith": lambda field, arg: field.endswith(arg),
}


def _compile_call(node: ast.Call, resolve: Resolver) -> Predicate:
    func = node.func.name.lower()
    if func not in _TEXT_FUNCTIONS:
        raise QueryError(f"$filter function {node.func.name}() is not supported", "$filter")
    if len(node.args) != 2 or not isinstance(node.args[0], ast.Identifier):
        raise QueryError(f"$filter {func}() takes a property and a string: {func}(Prop,'x')", "$filter")
    arg = node.args[1]
    if not isinstance(arg, ast.String | ast.Integer):
        raise QueryError(f"$filter {func}() takes a string as its second argument", "$filter")
    name = resolve(node.args[0].name)
    needle = str(arg.val).casefold()
    text_test = _TEXT_FUNCTIONS[func]

    def call(r: Record) -> bool:
        value = r.get(name)
        if value is None or isinstance(value, dict | list | bool):
            return False
        return text_test(str(value).casefold(), needle)

    return call


# ---- analyses ----------------------------------------------------------------------------------------


def _conjuncts(node: ast._Node) -> list[ast._Node]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def id_bounds(node: ast._Node | None, resolve: Resolver, prop: str = "ID") -> tuple[Decimal | None, Decimal | None]:
    """Numeric (lower, upper) bounds, inclusive, that the top-level `and` of the filter puts on `prop`.

    Used only to narrow a scan; the full predicate still decides each row, so loose bounds are safe.
    """
    lower: Decimal | None = None
    upper: Decimal | None = None
    if node is None:
        return lower, upper
    for part in _conjuncts(node):
        if not isinstance(part, ast.Compare) or isinstance(part.comparator, ast.In):
            continue
        try:
            name, op, right = _comparison(part, resolve)
        except QueryError:
            continue
        if name != prop:
            continue
        try:
            number = _Lit(right).number
        except QueryError:
            continue
        if number is None:
            continue
        if op in (ast.Gt, ast.GtE, ast.Eq):
            lower = number if lower is None else max(lower, number)
        if op in (ast.Lt, ast.LtE, ast.Eq):
            upper = number if upper is None else min(upper, number)
    return lower, upper


def _walk(node: Any) -> Any:
    """Every node of a parsed filter (odata-query's nodes are dataclasses; lists hold the `in` values)."""
    yield node
    if isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            yield from _walk(getattr(node, f.name))


def uses_in(node: ast._Node) -> bool:
    """True when the filter uses the `in (...)` operator anywhere (strict mode refuses it)."""
    return any(isinstance(n, ast.In) for n in _walk(node))


def properties(node: ast._Node, resolve: Resolver) -> set[str]:
    """The canonical names of the properties a filter mentions."""
    out: set[str] = set()
    for n in _walk(node):
        if isinstance(n, ast.Identifier):
            try:
                out.add(resolve(n.name))
            except QueryError:
                pass
    return out


def pins_property(node: ast._Node | None, resolve: Resolver, prop: str) -> bool:
    """True when the filter restricts `prop` to listed values or a closed range (`eq`, `in`, ge..le, or an
    `or` of such); the InvoiceItem feed refuses anything looser."""
    if node is None:
        return False
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        return pins_property(node.left, resolve, prop) and pins_property(node.right, resolve, prop)
    has_lower = has_upper = False
    for part in _conjuncts(node):
        if isinstance(part, ast.BoolOp) and isinstance(part.op, ast.Or):
            if pins_property(part, resolve, prop):
                return True
            continue
        if not isinstance(part, ast.Compare):
            continue
        try:
            name, op, right = _comparison(part, resolve)
        except QueryError:
            continue
        if name != prop or isinstance(right, ast.Null):
            continue
        if op in (ast.Eq, ast.In):
            return True
        has_lower = has_lower or op in (ast.Gt, ast.GtE)
        has_upper = has_upper or op in (ast.Lt, ast.LtE)
    return has_lower and has_upper


@dataclass
class KeyConstraint:
    """What the top-level `and` of a filter says about one property, in a form an index can answer.

    `values` (when not None) are the only keys allowed (`eq`, `in`, an `or` of those; several are intersected);
    `lower`/`upper` bound the key (`*_strict` for `gt`/`lt`). `residual` holds the other conjuncts, which must
    still be evaluated on the index's candidates. Keys are what `_order` compares the property's value with:
    the literal's number (kind "number") or its wire datetime text (kind "datetime").
    """

    lower: Any = None
    lower_strict: bool = False
    upper: Any = None
    upper_strict: bool = False
    values: set[Any] | None = None
    residual: list[ast._Node] = field(default_factory=list)


def key_constraint(node: ast._Node, resolve: Resolver, prop: str, kind: str) -> KeyConstraint | None:
    """The constraint the filter's top-level conjuncts put on `prop`, or None when none of them can use an index.

    A conjunct is taken only when, for every value the index holds (a number, or a `YYYY-MM-DDTHH:MM:SS`
    string), the general evaluator's `_order` would compare exactly as the index does; anything else is left in
    `residual`, so the answer stays the general evaluator's.
    """
    constraint = KeyConstraint()
    used = False
    for part in _conjuncts(node):
        if _take(part, resolve, prop, kind, constraint):
            used = True
        else:
            constraint.residual.append(part)
    return constraint if used else None


def _key_of_literal(node: ast._Node, kind: str) -> Any:
    try:
        lit = _Lit(node)
    except QueryError:
        return None
    if lit.is_null or isinstance(lit.raw, bool):
        return None
    if kind == "number":
        # A numeric literal compares with a numeric field as numbers (`_order`'s number branch); NaN never sorts.
        return lit.number if lit.number is not None and lit.number.is_finite() else None
    # A datetime literal compares with a 19-character wire datetime as text (`_order`'s first branch).
    return lit.when_text


def _equal_keys(node: ast._Node, resolve: Resolver, prop: str, kind: str) -> set[Any] | None:
    """The keys an `eq`, an `in (...)` or an `or` of those allows, or None when it is anything else."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        left_keys = _equal_keys(node.left, resolve, prop, kind)
        right_keys = _equal_keys(node.right, resolve, prop, kind)
        return None if left_keys is None or right_keys is None else left_keys | right_keys
    if not isinstance(node, ast.Compare):
        return None
    try:
        name, op, right = _comparison(node, resolve)
    except QueryError:
        return None
    if name != prop:
        return None
    items = right.val if op is ast.In and isinstance(right, ast.List) else [right] if op is ast.Eq else None
    if items is None:
        return None
    keys: set[Any] = set()
    for item in items:
        key = _key_of_literal(item, kind)
        if key is None:
            return None
        keys.add(key)
    return keys


def _take(part: ast._Node, resolve: Resolver, prop: str, kind: str, c: KeyConstraint) -> bool:
    keys = _equal_keys(part, resolve, prop, kind)
    if keys is not None:
        c.values = keys if c.values is None else c.values & keys
        return True
    if not isinstance(part, ast.Compare):
        return False
    try:
        name, op, right = _comparison(part, resolve)
    except QueryError:
        return False
    if name != prop or op not in (ast.Gt, ast.GtE, ast.Lt, ast.LtE):
        return False
    key = _key_of_literal(right, kind)
    if key is None:
        return False
    strict = op in (ast.Gt, ast.Lt)
    if op in (ast.Gt, ast.GtE):
        if c.lower is None or key > c.lower:
            c.lower, c.lower_strict = key, strict
        elif key == c.lower:
            c.lower_strict = c.lower_strict or strict
    elif c.upper is None or key < c.upper:
        c.upper, c.upper_strict = key, strict
    elif key == c.upper:
        c.upper_strict = c.upper_strict or strict
    return True


def compile_all(nodes: list[ast._Node], resolve: Resolver) -> Predicate | None:
    """The `and` of several parsed conjuncts as one predicate; None for none."""
    predicates = [compile_filter(n, resolve) for n in nodes]
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    return lambda r: all(p(r) for p in predicates)


def parse_orderby(text: str, resolve: Resolver) -> list[tuple[str, bool]]:
    """`"DateCreated desc, ID"` -> [("DateCreated", True), ("ID", False)] (name, descending)."""
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"$orderby item {part.strip()!r} is not 'Property [asc|desc]'", "$orderby")
        keys.append((resolve(words[0]), len(words) == 2 and words[1].lower() == "desc"))
    if not keys:
        raise QueryError("$orderby is empty", "$orderby")
    return keys
