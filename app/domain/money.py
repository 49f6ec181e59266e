"""Exact money: `Decimal` from parse to display, quantized per currency, stored as integer minor units.

Must not: use float anywhere, or round implicitly. Every rounding here is ROUND_HALF_UP, as accountants expect.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies a UK/AU/NZ training provider meets; anything else has 2.
_DECIMALS: dict[str, int] = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}


class MoneyError(ValueError):
    """A value that is not a valid amount of money. `why` is a short reason when the value is a number that cannot
    be taken ("out of range"), else ""."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why


def decimals(currency: str | None) -> int:
    """How many decimal places `currency` uses (2 unless ISO 4217 says otherwise)."""
    found = _DECIMALS_SEEN.get(currency)
    if found is None:
        found = _DECIMALS.get((currency or "").upper(), 2)
        if len(_DECIMALS_SEEN) < 1000:  # currency codes as spelled in the data: a handful; bounded all the same
            _DECIMALS_SEEN[currency] = found
    return found


_DECIMALS_SEEN: dict[str | None, int] = {}


def D(value: object) -> Decimal:
    """Read a money value exactly. Accepts Decimal, int and str; refuses float, bool and junk."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    else:
        raise MoneyError(f"not an amount: {value!r} ({type(value).__name__})")
    if not result.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}", "not a finite number")
    return result


# The largest amount a record may carry: its minor units (up to 3 decimals) must fit the cache's signed 64-bit
# columns with room to add a page of them; and no more decimals than any money or quantity has.
MAX_DECIMALS = 10


def bounded(value: object) -> Decimal:
    """`D(value)`, refused when it is too large for the cache (10**15 or more) or finer than `MAX_DECIMALS`: what a
    payload from a service is read with, so `1E+30` or 400 digits become a reason, never an overflow later."""
    if isinstance(value, str) and len(value) > 60:
        raise MoneyError(f"not an amount: {value[:20]!r}... ({len(value)} characters)", "too long")
    result = D(value)
    # Read from the digits and the exponent only: no arithmetic context (whose limits `1E+999999999` would trip).
    _sign, digits, exponent = result.as_tuple()
    assert isinstance(exponent, int)  # finite: D refused the others
    if not any(digits):
        return result
    if any(digits) and result.adjusted() >= 15:
        raise MoneyError(f"amount out of range: {value!r}", "out of range")
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if exponent + trailing < -MAX_DECIMALS:
        raise MoneyError(
            f"amount with more than {MAX_DECIMALS} decimals: {value!r}", f"more than {MAX_DECIMALS} decimals"
        )
    return result


def quantize(amount: Decimal, currency: str | None) -> Decimal:
    """Round `amount` to the currency's minor unit (half up)."""
    exp = Decimal(1).scaleb(-decimals(currency))
    return amount.quantize(exp, rounding=ROUND_HALF_UP)


# Amounts whose minor units fit a signed 64-bit column take the exact integer path of `to_minor`; anything
# larger goes through `quantize`, so it behaves (and fails) exactly as it always did.
_FAST_BOUND = 2**63


def to_minor(amount: Decimal, currency: str | None) -> int:
    """`Decimal("12.34")` in GBP -> `1234`. Refuses amounts finer than the currency's minor unit."""
    # Fast exact path (a sync calls this hundreds of thousands of times): the amount as an exact fraction
    # n/den, so amount * 10**d is whole exactly when den divides n * 10**d. No context, no rounding.
    try:
        n, den = amount.as_integer_ratio()
    except (ValueError, OverflowError):  # NaN, infinity: let the general path refuse them as before
        pass
    else:
        scale: int = 10 ** decimals(currency)
        minor, rest = divmod(n * scale, den)
        if -_FAST_BOUND < minor < _FAST_BOUND:
            if rest:
                raise MoneyError(f"{amount} has more decimals than {currency or 'the currency'} allows")
            return minor
    return _to_minor_general(amount, currency)


def _to_minor_general(amount: Decimal, currency: str | None) -> int:
    q = quantize(amount, currency)
    if q != amount:
        raise MoneyError(f"{amount} has more decimals than {currency or 'the currency'} allows")
    return int(q.scaleb(decimals(currency)))


def from_minor(minor: int, currency: str | None) -> Decimal:
    """`1234` in GBP -> `Decimal("12.34")`."""
    return Decimal(minor).scaleb(-decimals(currency))


def fmt(amount: Decimal | None, currency: str | None) -> str:
    """The string form used in reports and JSON: fixed decimals of the currency, no grouping."""
    if amount is None:
        return ""
    return f"{quantize(amount, currency):.{decimals(currency)}f}"
