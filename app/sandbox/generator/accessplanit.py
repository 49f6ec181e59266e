"""accessplanit's wire output of a generated month: Invoice, InvoiceItem, Transaction and TransactionMethod
records as its API serves them (`accessplanit-api.md` sections 5 and 9).

How accessplanit keeps its books: `InvoiceItem.Amount` is gross with its `Tax` rounded per line; `Invoice.Amount`
is the sum of line nets and `Invoice.Tax` 20% of it rounded once (document level); `AmountPaid` is payments less
refunds, `Outstanding` the rest, `Status` follows. Datetimes are ISO without offset, IDs numeric strings.
It writes what a `Plan` says and draws nothing at random; it knows nothing of Xero or of the rules.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from app.sandbox.generator.scenarios import CREDIT_METHOD, METHODS, VAT_RATE, Calendar, Plan, last_change, q

_ZERO = Decimal("0.00")
_LABELS = (*METHODS, CREDIT_METHOD)  # a credit note allocated in Xero is logged as a credit with the last one


class AccessplanitWriter:
    """Collects the accessplanit records of a month, one plan at a time. Per-day strings are made once, so a
    million records share them."""

    def __init__(self, cal: Calendar) -> None:
        self.days = cal.days
        # index 0 unused; day d of the month at index d
        self.iso_midnight = [""] + [f"{cal.month}-{d:02d}T00:00:00" for d in range(1, cal.days + 1)]
        self.iso_date = [""] + [f"{cal.month}-{d:02d}" for d in range(1, cal.days + 1)]
        self.records: dict[str, list[dict[str, Any]]] = {
            "Invoice": [],
            "InvoiceItem": [],
            "Transaction": [],
            "TransactionMethod": [{"ID": str(i + 1), "Label": label} for i, label in enumerate(_LABELS)],
        }
        self.method_id = {label: str(i + 1) for i, label in enumerate(_LABELS)}
        self.item_id = 70_000
        self.transaction_id = 88_000
        self.batches: dict[str, dict[str, Any]] = {}  # combined payment -> its Transaction

    def add(self, p: Plan) -> None:
        ap = self.records
        inv_id = str(5001 + p.slot)
        items = ap["InvoiceItem"]
        net_total = _ZERO
        for desc, price, qty in p.lines:
            net = price * qty
            tax = q(net * VAT_RATE)
            net_total += net
            self.item_id += 1
            items.append(
                {"ID": str(self.item_id), "InvoiceID": inv_id, "DynamicLabel": desc, "Amount": net + tax, "Tax": tax}
            )
        tax_total = q(net_total * VAT_RATE)
        gross = net_total + tax_total
        paid = _ZERO
        transactions = ap["Transaction"]
        for pay in p.payments:
            if not pay.in_source:
                continue
            if pay.batch:  # one Transaction allocated across the invoices of a combined payment
                self._allocate(inv_id, pay.batch, pay.amount, pay.day, pay.reference, pay.method, p)
                paid += pay.amount
                continue
            for _ in range(pay.copies):
                self.transaction_id += 1
                transactions.append(
                    self._transaction(inv_id, "Payment", pay.amount, pay.day, pay.reference, pay.method, p)
                )
                paid += pay.amount
        if p.refund is not None:
            _net, refund_gross, day, ref = p.refund
            self.transaction_id += 1
            label = p.payments[0].method
            transactions.append(self._transaction(inv_id, "Refund", refund_gross, day, ref, label, p))
            paid -= refund_gross
        if p.bad_source_payment:
            self.transaction_id += 1
            bad = self._transaction(inv_id, "Payment", Decimal("12.50"), p.issue_day, f"CASH-{p.slot}", "Cash", p)
            bad["Amount"] = "12,50"  # a European decimal comma: unreadable as an amount
            transactions.append(bad)
            paid += Decimal("12.50")
        if p.source_void:
            status, paid, outstanding = "Cancelled", _ZERO, _ZERO
        else:
            outstanding = gross - paid
            status = "Paid" if outstanding == 0 and gross > 0 else "Part Paid" if paid > 0 else "Outstanding"
        up_day, up_sec = last_change(p, not p.ledger_later, self.days)
        ap["Invoice"].append(
            {
                "ID": inv_id,
                "Reference": p.source_number,
                "Amount": net_total,
                "Tax": tax_total,
                "TaxRate": Decimal("20.00"),
                "AmountPaid": paid,
                "Outstanding": outstanding,
                "Status": status,
                "CurrencyCode": p.currency,
                "DateCreated": f"{self.iso_date[p.issue_day]}T{9 + p.slot % 8:02d}:{p.slot % 60:02d}:00",
                "DateDue": self.iso_midnight[p.due_day],
                "DateUpdated": f"{self.iso_date[up_day]}T{timedelta(seconds=up_sec)!s:0>8}",
                "TargetIDType": "Company",
                "TargetID": str(301 + p.contact_index),
                "TargetLabel": p.contact_label,
                "CompanyName": p.source_company,
                "PONumber": p.po or None,
            }
        )

    def _allocate(self, inv_id: str, batch: str, amount: Decimal, day: int, ref: str, label: str, p: Plan) -> None:
        """Add this invoice's part to the combined payment's Transaction (made on its first part)."""
        record = self.batches.get(batch)
        if record is None:
            self.transaction_id += 1
            record = self.batches[batch] = self._transaction(inv_id, "Payment", _ZERO, day, ref, label, p)
            record["TransactionInvoices"] = []
            self.records["Transaction"].append(record)
        record["Amount"] += amount
        record["TransactionInvoices"].append({"InvoiceID": inv_id, "Amount": amount})

    def _transaction(
        self, inv_id: str, kind: str, amount: Decimal, day: int, ref: str, label: str, p: Plan
    ) -> dict[str, Any]:
        stamp = f"{self.iso_date[day]}T{10 + p.slot % 7:02d}:{self.transaction_id % 60:02d}:00"
        return {
            "ID": str(self.transaction_id),
            "InvoiceID": inv_id,
            "TransactionType": kind,
            "Amount": amount,
            "TransactionMethodID": self.method_id[label],
            "TransactionMethodLabel": label,
            "TransactionDate": self.iso_midnight[day],
            "Reference": ref,
            "CurrencyCode": p.currency,
            "DateCreated": stamp,
            "DateUpdated": stamp,
        }
