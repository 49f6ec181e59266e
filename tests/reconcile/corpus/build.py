"""Writes `cases.json`, the labelled matching corpus: `python tests/reconcile/corpus/build.py`.

Each case is a small world of both systems' records: the hard pair(s) it is about, decoys a person could mistake
for the right counterpart, and a few clean pairs. Its labels: `links`, every true correspondence (kind, source id,
ledger id; a split payment has two); `auto`, the pairs the matching rules are expected to make by themselves.
`known_gap` names a case where the engine's automatic outcome is known to be wrong (reported, not hidden).
The labels come from how a case is made (the truth of the world), never from running the engine.
Must not: import the app (the corpus must not be shaped by the code it scores).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 15

CONTACTS = [
    ("Acme Training Ltd", "ACME Training Limited"),
    ("Smith & Co", "Smith and Co"),
    ("Northwind Learning", "North Wind Learning Ltd"),
    ("Bright Futures Academy", "Bright Futures Acadamy"),
    ("O'Neill Consulting", "ONeill Consulting"),
    ("Harbour View NHS Trust", "Harbour View N.H.S. Trust"),
    ("Greenfield Primary School", "Greenfield Primary Schl"),
    ("Kestrel Logistics plc", "Kestrel Logistics PLC"),
    ("Blue Ridge Engineering", "Blueridge Engineering"),
    ("Maple Leaf Care Homes", "Maple-Leaf Care Homes Ltd"),
    ("Quayside Dental Practice", "Quayside Dental Practise"),
    ("Saint Mary's College", "St Mary's College"),
]
OTHER_CONTACTS = [
    "Zenith Retail Group", "Pembroke Surveyors", "Lowther Estates", "Tidewater Holdings", "Crown Street Pharmacy",
    "Fenwick Marine", "Larkspur Nurseries", "Ashdown Motors", "Copperfield Legal", "Riverside Leisure Centre",
]  # fmt: skip


class World:
    """One case being built: records of both sides, the true links and the expected automatic pairs."""

    def __init__(self, rng: random.Random, case_id: str, category: str, about: str) -> None:
        self.rng = rng
        self.case = {
            "id": case_id,
            "category": category,
            "about": about,
            "source": {"invoices": [], "payments": []},
            "ledger": {"invoices": [], "payments": []},
            "links": [],
            "auto": [],
        }
        self.n = 0

    def _id(self, side: str) -> str:
        self.n += 1
        return f"{self.n}" if side == "source" else f"x{self.n}"

    def inv(self, side: str, number: str, contact: str, day: date, total: str, cur: str = "GBP", po: str = "") -> str:
        rid = self._id(side)
        self.case[side]["invoices"].append(
            {"id": rid, "number": number, "contact": contact, "date": day.isoformat(), "total": total, "cur": cur,
             "po": po}
        )  # fmt: skip
        return rid

    def pay(
        self, side: str, invoice: str, day: date, amount: str, ref: str, cur: str = "GBP", direction: str = "payment"
    ) -> str:
        rid = self._id(side)
        self.case[side]["payments"].append(
            {"id": rid, "invoice": invoice, "date": day.isoformat(), "amount": amount, "ref": ref, "cur": cur,
             "dir": direction}
        )  # fmt: skip
        return rid

    def link(self, kind: str, source_id: str, ledger_id: str, *, auto: bool) -> None:
        self.case["links"].append([kind, source_id, ledger_id])
        if auto:
            self.case["auto"].append([kind, source_id, ledger_id])

    def both(self, number: str, contact: str, day: date, total: str, cur: str = "GBP") -> None:
        """A clean invoice in both systems with its payment in both: two automatic pairs."""
        s, g = (
            self.inv("source", number, contact, day, total, cur),
            self.inv("ledger", number, contact, day, total, cur),
        )
        self.link("invoice", s, g, auto=True)
        ref = f"BACS {number}"
        paid = day + timedelta(days=self.rng.randint(5, 20))
        s = self.pay("source", number, paid, total, ref, cur)
        self.link("payment", s, self.pay("ledger", number, paid, total, ref, cur), auto=True)

    def money(self, low: int = 80, high: int = 4000) -> str:
        return f"{self.rng.randint(low, high)}.{self.rng.choice(['00', '00', '50', '20', '99', '40'])}"

    def day(self) -> date:
        return date(2026, 10, 1) + timedelta(days=self.rng.randint(0, 27))

    def other_contact(self) -> str:
        return self.rng.choice(OTHER_CONTACTS)


def _num(rng: random.Random) -> int:
    return rng.randint(1000, 8999)


def _invoice_decoys(w: World, side: str, base: int, contact: str, day: date, total: str) -> None:
    """One-sided invoices a person could take for the right one: a neighbouring number, the same contact with
    another amount, the same amount with another contact."""
    w.inv(side, f"INV-{base + 1}", w.other_contact(), day + timedelta(days=2), w.money())
    w.inv(side, f"INV-{base + 40}", contact, day + timedelta(days=w.rng.randint(3, 15)), w.money())
    w.inv(side, f"INV-{base + 517}", w.other_contact(), day + timedelta(days=w.rng.randint(0, 6)), total)
    # A monthly course: the same customer and amount under the next number, a month on.
    w.inv(side, f"INV-{base + 2}", contact, day + timedelta(days=w.rng.choice([28, 30, 31])), total)


def _typo_case(w: World, bad: Callable[[str], str], about: str) -> None:
    base = _num(w.rng)
    contact = w.rng.choice(CONTACTS)[0]
    day, total = w.day(), w.money()
    good = f"INV-{base}"
    wrong_side = w.rng.choice(["source", "ledger"])
    other = "ledger" if wrong_side == "source" else "source"
    ids = {
        wrong_side: w.inv(wrong_side, bad(good), contact, day, total),
        other: w.inv(other, good, contact, day, total),
    }
    w.link("invoice", ids["source"], ids["ledger"], auto=False)
    _invoice_decoys(w, other, base, contact, day, total)
    w.both(f"INV-{base + 3}", w.other_contact(), w.day(), w.money())
    w.case["about"] = about


def _lookalike(number: str) -> str:
    digits = number[4:]
    i = digits.find("0")
    if i >= 0:
        return "INV-" + digits[:i] + "O" + digits[i + 1 :]
    i = digits.find("1")
    return "INV-" + (digits[:i] + "I" + digits[i + 1 :] if i >= 0 else digits[:-1] + "O")


def _transposed(number: str) -> str:
    digits = number[4:]
    for i in range(len(digits) - 1, 0, -1):
        if digits[i] != digits[i - 1]:
            return "INV-" + digits[: i - 1] + digits[i] + digits[i - 1] + digits[i + 1 :]
    return "INV-" + digits[::-1]


CASES: list[tuple[str, int, Callable[[World], None]]] = []


def case(category: str, count: int) -> Callable[[Callable[[World], None]], Callable[[World], None]]:
    def register(fn: Callable[[World], None]) -> Callable[[World], None]:
        CASES.append((category, count, fn))
        return fn

    return register


@case("typo_lookalike", 16)
def typo_lookalike(w: World) -> None:
    _typo_case(w, _lookalike, "invoice number with O for 0 or I for 1 on one side")


@case("typo_transposed", 16)
def typo_transposed(w: World) -> None:
    _typo_case(w, _transposed, "invoice number with two neighbouring digits swapped")


@case("typo_prefix", 12)
def typo_prefix(w: World) -> None:
    _typo_case(w, lambda n: n[4:], "invoice number without its prefix on one side")


@case("typo_separator", 14)
def typo_separator(w: World) -> None:
    pick = w.rng.choice([lambda n: n.replace("-", " "), lambda n: n.replace("-", ""), lambda n: n.replace("-", "/"),
                         lambda n: n[:6] + "-" + n[6:]])  # fmt: skip
    _typo_case(w, pick, "invoice number with a space, slash or dash where the other has none or another")


@case("number_case_spaces", 10)
def number_case_spaces(w: World) -> None:
    """Case and outer spaces are not typos: the rules pair these."""
    base = _num(w.rng)
    contact, day, total = w.rng.choice(CONTACTS)[0], w.day(), w.money()
    s = w.inv("source", f" inv-{base} ", contact, day, total)
    g = w.inv("ledger", f"INV-{base}", contact, day, total)
    w.link("invoice", s, g, auto=True)
    w.inv("ledger", f"INV-{base + 1}", contact, day, w.money())
    w.both(f"INV-{base + 2}", w.other_contact(), w.day(), w.money())


@case("contact_spelling", 14)
def contact_spelling(w: World) -> None:
    base = _num(w.rng)
    spelled, other_spelling = w.rng.choice(CONTACTS)
    day, total = w.day(), w.money()
    s = w.inv("source", f"INV-{base}", spelled, day, total)
    g = w.inv("ledger", f"INV {base}", other_spelling, day + timedelta(days=w.rng.choice([0, 0, 1])), total)
    w.link("invoice", s, g, auto=False)
    # Decoys: the same amount for another customer on a close date; the same customer, other amount.
    w.inv("ledger", f"INV-{base + 9}", w.other_contact(), day, total)
    w.inv("ledger", f"INV-{base - 1}", other_spelling, day + timedelta(days=5), w.money())
    w.both(f"INV-{base + 4}", w.other_contact(), w.day(), w.money())


@case("rounding_one_cent", 12)
def rounding_one_cent(w: World) -> None:
    """One cent apart is within the tolerance: a payment pair by amount, date and reference."""
    base = _num(w.rng)
    day, total = w.day(), w.money()
    number = f"INV-{base}"
    w.both(number, w.rng.choice(CONTACTS)[0], day, total)
    paid = day + timedelta(days=3)
    cents = total.split(".")
    more = f"{cents[0]}.{int(cents[1]) + 1:02d}"
    s = w.pay("source", number, paid, total, f"DD {base}")
    g = w.pay("ledger", number, paid, more, f"DD {base}")
    w.link("payment", s, g, auto=True)


@case("rounding_vat", 14)
def rounding_vat(w: World) -> None:
    """VAT rounded per line in one system and on the total in the other: a few pence apart, a reference re-typed and
    a day later (no tier fits: a person pairs them)."""
    base = _num(w.rng)
    number = f"INV-{base}"
    contact, day, total = w.rng.choice(CONTACTS)[0], w.day(), w.money(200, 3000)
    w.both(number, contact, day, total)
    w.inv("source", f"INV-{base + 1}", contact, day, "240.00")
    w.inv("ledger", f"INV-{base + 1}", contact, day, "240.00")
    w.link("invoice", str(w.n - 1), f"x{w.n}", auto=True)
    paid = day + timedelta(days=w.rng.randint(2, 9))
    pence = w.rng.choice(["0.02", "0.03", "0.04"])
    s = w.pay("source", f"INV-{base + 1}", paid, "240.00", f"Invoice {base + 1}")
    g = w.pay("ledger", f"INV-{base + 1}", paid + timedelta(days=1), f"{240 + float(pence):.2f}", f"INV{base + 1}")
    w.link("payment", s, g, auto=False)
    # Decoys: payments of other invoices, one the same amount on another day, one near the date, other amount.
    w.pay("ledger", f"INV-{base + 30}", paid + timedelta(days=6), "240.00", f"INV{base + 30}")
    w.pay("ledger", f"INV-{base + 31}", paid, w.money(), f"INV{base + 31}")


@case("rounding_tier4", 10)
def rounding_tier4(w: World) -> None:
    """Same invoice, date and reference, amounts a few pence apart: the rules pair them (tier 4), differing."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day = w.day()
    w.both(number, w.rng.choice(CONTACTS)[0], day, "480.00")
    s = w.pay("source", number, day, "120.00", f"CARD {base}")
    g = w.pay("ledger", number, day, "120.05", f"CARD {base}")
    w.link("payment", s, g, auto=True)


@case("midnight_utc", 14)
def midnight_utc(w: World) -> None:
    """A card payment taken just after midnight in one system's time and before it in UTC: a day apart."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day, total = w.day(), w.money()
    w.both(number, w.rng.choice(CONTACTS)[0], day, total)
    paid = date(2026, 10, 31) if w.rng.random() < 0.5 else day + timedelta(days=4)
    amount = w.money(50, 900)
    same_ref = w.rng.random() < 0.5
    s = w.pay("source", number, paid, amount, f"STRIPE {base}")
    g = w.pay("ledger", number, paid + timedelta(days=1), amount, f"STRIPE {base}" if same_ref else f"ch_{base}x")
    w.link("payment", s, g, auto=same_ref)  # same amount and reference: tier 2; else no tier fits
    w.pay("ledger", f"INV-{base + 11}", paid + timedelta(days=1), w.money(50, 900), f"ch_{base + 11}x")
    w.pay("ledger", f"INV-{base + 12}", paid + timedelta(days=8), amount, f"ch_{base + 12}x")


@case("month_end", 12)
def month_end(w: World) -> None:
    """An invoice dated the last day of the month in one system and the first of the next in the other, its number
    mistyped as well: a person pairs them."""
    base = _num(w.rng)
    contact, total = w.rng.choice(CONTACTS)[0], w.money()
    s = w.inv("source", f"INV-{base}", contact, date(2026, 10, 31), total)
    g = w.inv("ledger", f"INV-{base}A", contact, date(2026, 11, 1), total)
    w.link("invoice", s, g, auto=False)
    w.inv("ledger", f"INV-{base + 1}", contact, date(2026, 11, 30), w.money())
    w.inv("ledger", f"INV-{base + 100}", w.other_contact(), date(2026, 11, 1), w.money())
    w.both(f"INV-{base + 2}", w.other_contact(), date(2026, 10, 30), w.money())


@case("currency_decoy", 14)
def currency_decoy(w: World) -> None:
    """The same amount in another currency must not win: the right counterpart is in the same currency."""
    base = _num(w.rng)
    contact, day, total = w.rng.choice(CONTACTS)[0], w.day(), w.money()
    s = w.inv("source", f"INV-{base}", contact, day, total)
    g = w.inv("ledger", f"INV-{base}-1", contact, day + timedelta(days=1), f"{float(total) + 0.02:.2f}")
    w.link("invoice", s, g, auto=False)
    w.inv("ledger", f"INV {base}", contact, day, total, cur=w.rng.choice(["EUR", "USD"]))
    w.both(f"INV-{base + 5}", w.other_contact(), w.day(), w.money())


@case("currency_payment", 8)
def currency_payment(w: World) -> None:
    """A payment on the same invoice, day and reference but in another currency is another payment."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day = w.day()
    w.both(number, w.rng.choice(CONTACTS)[0], day, "300.00")
    w.pay("source", number, day, "150.00", f"FX {base}", cur="GBP")
    w.pay("ledger", number, day, "150.00", f"FX {base}", cur="EUR")


@case("currency_invoice", 6)
def currency_invoice(w: World) -> None:
    """One invoice number, a wrong currency on one side: the same invoice, shown as a currency difference."""
    base = _num(w.rng)
    contact, day, total = w.rng.choice(CONTACTS)[0], w.day(), w.money()
    s = w.inv("source", f"INV-{base}", contact, day, total, cur="GBP")
    g = w.inv("ledger", f"INV-{base}", contact, day, total, cur="EUR")
    w.link("invoice", s, g, auto=True)


@case("duplicate_payment", 14)
def duplicate_payment(w: World) -> None:
    """A payment entered twice in one system: the first pairs, the twin must not."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day, total = w.day(), w.money()
    w.both(number, w.rng.choice(CONTACTS)[0], day, total)
    paid = day + timedelta(days=2)
    s = w.pay("source", number, paid, "100.00", f"CHQ {base}")
    g = w.pay("ledger", number, paid, "100.00", f"CHQ {base}")
    w.pay("ledger", number, paid + timedelta(days=w.rng.choice([0, 1, 2])), "100.00", f"CHQ {base}")
    w.link("payment", s, g, auto=True)


@case("duplicate_invoice", 10)
def duplicate_invoice(w: World) -> None:
    """An invoice re-entered under another number in one system: the number pairs; the twin is left alone."""
    base = _num(w.rng)
    contact, day, total = w.rng.choice(CONTACTS)[0], w.day(), w.money()
    s = w.inv("source", f"INV-{base}", contact, day, total)
    g = w.inv("ledger", f"INV-{base}", contact, day, total)
    w.inv("ledger", f"INV-{base + 1}", contact, day, total)
    w.link("invoice", s, g, auto=True)


@case("duplicate_twin_candidate", 10)
def duplicate_twin_candidate(w: World) -> None:
    """A payment booked on the wrong invoice, and entered twice there: the original is the right counterpart."""
    base = _num(w.rng)
    day = w.day()
    w.both(f"INV-{base}", w.rng.choice(CONTACTS)[0], day, "500.00")
    w.both(f"INV-{base + 7}", w.other_contact(), day, "800.00")
    paid = day + timedelta(days=5)
    s = w.pay("source", f"INV-{base}", paid, "250.00", f"BACS-{base}")
    g = w.pay("ledger", f"INV-{base + 7}", paid, "250.00", f"BACS-{base}")
    w.pay("ledger", f"INV-{base + 7}", paid + timedelta(days=3), "250.00", f"BACS-{base}-2")
    w.link("payment", s, g, auto=False)


@case("wrong_invoice", 14)
def wrong_invoice(w: World) -> None:
    """The payment booked against a neighbouring invoice in one system: another invoice, same money and day."""
    base = _num(w.rng)
    day = w.day()
    contact = w.rng.choice(CONTACTS)[0]
    w.both(f"INV-{base}", contact, day, "900.00")
    w.both(f"INV-{base + 1}", contact, day, "600.00")
    paid = day + timedelta(days=w.rng.randint(3, 12))
    amount = w.money(100, 500)
    ref = w.rng.choice([f"{contact.split()[0].upper()} {base}", f"REMIT{base}", ""])
    s = w.pay("source", f"INV-{base}", paid, amount, ref)
    g = w.pay("ledger", f"INV-{base + 1}", paid, amount, ref or "payment")
    w.link("payment", s, g, auto=False)
    w.pay("ledger", f"INV-{base}", paid + timedelta(days=9), w.money(100, 500), f"REMIT{base + 50}")
    w.pay("ledger", f"INV-{base}", paid + timedelta(days=7), amount, f"REMIT{base + 60}")  # right invoice and amount


@case("reference_typo", 12)
def reference_typo(w: World) -> None:
    """Same invoice and amount, a re-typed reference and two days apart: no tier fits."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day, amount = w.day(), w.money(100, 700)
    w.both(number, w.rng.choice(CONTACTS)[0], day, "2000.00")
    paid = day + timedelta(days=4)
    s = w.pay("source", number, paid, amount, f"ABC-{base}")
    g = w.pay("ledger", number, paid + timedelta(days=2), amount, f"ABC{str(base)[::-1]}")
    w.link("payment", s, g, auto=False)
    w.pay("ledger", f"INV-{base + 20}", paid, w.money(100, 700), f"XYZ-{base + 20}")


@case("split_payment", 12)
def split_payment(w: World) -> None:
    """One payment in one system, paid in two instalments in the other."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day = w.day()
    w.both(f"INV-{base + 1}", w.other_contact(), day, w.money())
    w.inv("source", number, w.rng.choice(CONTACTS)[0], day, "600.00")
    w.inv("ledger", number, w.case["source"]["invoices"][-1]["contact"], day, "600.00")
    w.link("invoice", str(w.n - 1), f"x{w.n}", auto=True)
    paid = day + timedelta(days=6)
    same = w.rng.random() < 0.5
    s = w.pay("source", number, paid, "600.00", f"SPLIT {base}")
    g1 = w.pay("ledger", number, paid, "300.00", f"SPLIT {base}" if same else "part 1")
    g2 = w.pay(
        "ledger", number, paid + timedelta(days=0 if same else 14), "300.00", f"SPLIT {base}" if same else "part 2"
    )
    w.link("payment", s, g1, auto=same)  # tier 4 pairs the first instalment when date and reference agree
    w.link("payment", s, g2, auto=False)
    if w.rng.random() < 0.5:  # another customer's payment of an instalment's amount the same day: a hard decoy
        w.pay("source", f"INV-{base + 1}", paid, "300.00", "part payment")


@case("combined_payment", 10)
def combined_payment(w: World) -> None:
    """Two invoices' payments in one system, one payment for both in the other (booked on the first invoice)."""
    base = _num(w.rng)
    day = w.day()
    contact = w.rng.choice(CONTACTS)[0]
    for k in (0, 1):
        w.inv("source", f"INV-{base + k}", contact, day, "150.00")
        w.inv("ledger", f"INV-{base + k}", contact, day, "150.00")
        w.link("invoice", str(w.n - 1), f"x{w.n}", auto=True)
    paid = day + timedelta(days=8)
    s1 = w.pay("source", f"INV-{base}", paid, "150.00", f"BATCH {base}")
    s2 = w.pay("source", f"INV-{base + 1}", paid, "150.00", f"BATCH {base}")
    g = w.pay("ledger", f"INV-{base}", paid, "300.00", f"BATCH {base}")
    w.link("payment", s1, g, auto=True)  # tier 4: same invoice, date and reference
    w.link("payment", s2, g, auto=False)


@case("empty_reference", 10)
def empty_reference(w: World) -> None:
    """Two payments without a reference do not share one: an instalment weeks apart, or another amount the same day,
    is not the same payment."""
    base = _num(w.rng)
    number = f"INV-{base}"
    day = w.day()
    w.both(number, w.rng.choice(CONTACTS)[0], day, "900.00")
    paid = day + timedelta(days=3)
    s = w.pay("source", number, paid, "300.00", "")
    if int(w.case["id"][-2:]) % 2:
        # The reference typed in the ledger only, the same day and amount: the rules pair them (tier 3). The next
        # instalment, booked in the ledger only, has the same amount and no reference either.
        g = w.pay("ledger", number, paid, "300.00", f"BACS {base}")
        w.link("payment", s, g, auto=True)
        w.pay("ledger", number, paid + timedelta(days=w.rng.choice([14, 21, 28])), "300.00", "")
    else:
        # The card settles a day later in the ledger, with its reference: no tier fits (a person pairs them). Another
        # payment of another amount the same day, booked in the ledger only, has no reference either.
        g = w.pay("ledger", number, paid + timedelta(days=1), "300.00", f"CARD {base}")
        w.link("payment", s, g, auto=False)
        w.pay("ledger", number, paid, w.rng.choice(["45.00", "120.00", "75.50"]), "")


def build() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    out: list[dict[str, Any]] = []
    for category, count, make in CASES:
        for k in range(count):
            w = World(rng, f"{category}-{k + 1:02d}", category, (make.__doc__ or "").strip().split("\n")[0])
            make(w)
            out.append(w.case)
    return out


if __name__ == "__main__":
    cases = build()
    # One case a line: small, and a diff shows which cases changed.
    (HERE / "cases.json").write_text("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")
    print(f"{len(cases)} cases written to {HERE / 'cases.json'}")
