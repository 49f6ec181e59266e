"""Exact money: `Decimal` from parse to display, quantized per currency, stored as integer minor units.

Must not: use float anywhere, or round implicitly. Every rounding here is ROUND_HALF_UP, as accountants expect.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies a UK/AU/NZ training provider meets; anything else has 2.
_DECIMALS: dict[str, int] = {"JPY": 0, "KRW": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3}


class MoneyError(ValueError):
    """A value that is not a valid amount of money."""


def decimals(currency: str | None) -> int:
    """How many decimal places `currency` uses (2 unless ISO 4217 says otherwise)."""
    return _DECIMALS.get((currency or "").upper(), 2)


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
        raise MoneyError(f"not a finite amount: {value!r}")
    return result


def quantize(amount: Decimal, currency: str | None) -> Decimal:
    """Round `amount` to the currency's minor unit (half up)."""
    exp = Decimal(1).scaleb(-decimals(currency))
    return amount.quantize(exp, rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str | None) -> int:
    """`Decimal("12.34")` in GBP -> `1234`. Refuses amounts finer than the currency's minor unit."""
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
