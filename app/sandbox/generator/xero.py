"""Xero's wire output of a generated month: response envelopes of Invoices, Payments, CreditNotes, Overpayments,
Prepayments, Contacts, TaxRates, Accounts and Organisation, in the shapes of `xero_accounting.yaml`.

How Xero keeps its books: ACCREC invoices, lines `Quantity` x `UnitAmount` = `LineAmount` with VAT per line rounded
then summed; `AmountDue` = Total - paid - credited; a refund is a credit note naming the invoice, paid out by an
ARCREDITPAYMENT; an overpayment, prepayment or credit note allocated to an invoice moves its `AmountCredited`.
Dates are `/Date(ms+0000)/`, ids deterministic uuid5 GUIDs of the seed (`Guids`).
It writes what a `Plan` says and draws nothing at random; it knows nothing of accessplanit or of the rules.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from app.sandbox.generator.oracle import BASE_CURRENCY, METHOD_ACCOUNTS
from app.sandbox.generator.scenarios import VAT_RATE, Calendar, PayPlan, Plan, last_change, q

_ZERO = Decimal("0.00")
_QTY1 = Decimal("1.0000")
_RATE1 = Decimal("1.000000")

_ACCOUNTS = (  # (code, name, type, bank account type)
    ("090", "Business Bank Account", "BANK", "BANK"),
    ("091", "Card Receipts Clearing", "BANK", "BANK"),
    ("092", "Cheques Awaiting Deposit", "BANK", "BANK"),
    ("093", "Petty Cash", "BANK", "BANK"),
    ("094", "Stripe", "BANK", "BANK"),
    ("095", "PayPal", "BANK", "PAYPAL"),
    ("200", "Sales", "REVENUE", None),
    ("610", "Accounts Receivable", "CURRENT", None),
    ("820", "VAT", "CURRLIAB", None),
)


class Guids:
    """Deterministic uuid5 values from the seed. Computes the same value as `uuid.uuid5(namespace, name)` with a
    pre-hashed namespace, because building UUID objects costs three times as much and this runs millions of times.
    """

    _VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}

    def __init__(self, seed: int) -> None:
        self._namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"https://recondesk.invalid/sandbox/{seed}")
        self._prefix = hashlib.sha1(self._namespace.bytes, usedforsecurity=False)

    def __call__(self, name: str) -> str:
        h = self._prefix.copy()
        h.update(name.encode())
        x = h.hexdigest()
        return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{self._VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"

    def reference(self, name: str) -> str:
        """The slow, obviously correct form; tests check that `__call__` agrees with it."""
        return str(uuid.uuid5(self._namespace, name))


class XeroWriter:
    """Collects the Xero records of a month, one plan at a time, and wraps them in response envelopes."""

    def __init__(self, cal: Calendar, guid: Guids) -> None:
        self.days = cal.days
        self.guid = guid
        epoch_day = (cal.first - date(1970, 1, 1)).days
        # index 0 unused; day d of the month at index d
        self.iso_midnight = [""] + [f"{cal.month}-{d:02d}T00:00:00" for d in range(1, cal.days + 1)]
        self.ms_day = [0] + [(epoch_day + d - 1) * 86_400_000 for d in range(1, cal.days + 1)]
        self.ms_date = [""] + [f"/Date({self.ms_day[d]}+0000)/" for d in range(1, cal.days + 1)]
        self.xi: list[dict[str, Any]] = []  # invoices
        self.xp: list[dict[str, Any]] = []  # payments
        self.xc: list[dict[str, Any]] = []  # credit notes
        self.xo: list[dict[str, Any]] = []  # overpayments
        self.xr: list[dict[str, Any]] = []  # prepayments
        self.accounts = {
            code: {
                "AccountID": self.guid(f"account:{code}"),
                "Code": code,
                "Name": name,
                "Type": kind,
                "Status": "ACTIVE",
                **({"BankAccountType": bank, "EnablePaymentsToAccount": True} if bank else {}),
                **({"TaxType": "OUTPUT2"} if code == "200" else {}),
                "CurrencyCode": BASE_CURRENCY,
            }
            for code, name, kind, bank in _ACCOUNTS
        }
        self.account_refs = {code: {"AccountID": a["AccountID"], "Code": code} for code, a in self.accounts.items()}
        self.credit_note_no = 0
        self.xb: dict[str, dict[str, Any]] = {}  # batch payments by the generator's batch name
        self.contact_refs: dict[str, dict[str, str]] = {}

    def contact_ref(self, name: str) -> dict[str, str]:
        ref = self.contact_refs.get(name)
        if ref is None:
            ref = {"ContactID": self.guid(f"contact:{name}"), "Name": name}
            self.contact_refs[name] = ref
        return ref

    def line_item(self, name: str, desc: str, price: Decimal, qty: int) -> dict[str, Any]:
        amount = price * qty
        return {
            "LineItemID": self.guid(name),
            "Description": desc,
            "Quantity": _QTY1 * qty,
            "UnitAmount": price,
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
            "TaxAmount": q(amount * VAT_RATE),  # Xero: VAT per line, rounded, then summed
            "LineAmount": amount,
        }

    def add(self, p: Plan) -> None:
        slot = p.slot
        inv_guid = self.guid(f"invoice:{slot}")
        lines = []
        for k, (desc, price, qty) in enumerate(p.lines):
            if k == 0 and p.ledger_line_bump is not None:
                price = price + p.ledger_line_bump
            lines.append(self.line_item(f"line:{slot}:{k}", desc, price, qty))
        sub = sum((li["LineAmount"] for li in lines), _ZERO)
        tax = sum((li["TaxAmount"] for li in lines), _ZERO)
        total = sub + tax
        number = p.ledger_number
        contact = self.contact_ref(p.contact)
        inv_ref = {"Type": "ACCREC", "InvoiceID": inv_guid, "InvoiceNumber": number, "CurrencyCode": p.currency}
        summaries = []
        paid = _ZERO
        last_day = 0
        credited = _ZERO
        credit_note: dict[str, Any] | None = None
        for i, pay in enumerate(p.payments):
            if not pay.in_ledger:
                continue
            if pay.credit:  # an allocation of a credit to the invoice: no Payment, AmountCredited instead
                record = self._allocated_credit(p, i, pay, contact, inv_ref)
                if pay.credit == "credit_note":
                    credit_note = record
                credited += pay.amount
                last_day = max(last_day, pay.day)
                continue
            amount, day, led_ref = pay.amount, pay.day, pay.ledger_reference
            pid = self.guid(f"payment:{slot}:{i}")
            record = self.payment(pid, "ACCRECPAYMENT", amount, day, led_ref, pay.ledger_code, inv_ref, p)
            if pay.batch:
                self._batch(pay.batch, record)
            self.xp.append(record)
            summaries.append(
                {
                    "PaymentID": pid,
                    "Date": self.ms_date[day],
                    "Amount": amount,
                    "Reference": led_ref,
                    "CurrencyRate": p.rate or _RATE1,
                    "HasAccount": False,
                    "HasValidationErrors": False,
                }
            )
            paid += amount
            last_day = max(last_day, day)
        if p.refund is not None and credit_note is not None:
            self._refund_from(p, credit_note)
        elif p.refund is not None:
            self._refund(p, contact, number)
        if p.ledger_credit is not None:
            self._credit(p, contact)
        if p.ledger_void:
            status, paid, due = "VOIDED", _ZERO, _ZERO  # Xero shows a voided invoice with nothing due
        elif p.ledger_deleted:
            status, due = "DELETED", _ZERO
        else:
            due = total - paid - credited
            status = "PAID" if due == 0 and paid + credited > 0 else "AUTHORISED"
        up_day, up_sec = last_change(p, p.ledger_later, self.days)
        invoice: dict[str, Any] = {
            "Type": "ACCREC",
            "InvoiceID": inv_guid,
            "InvoiceNumber": number,
            "Reference": p.ledger_po,
            "Contact": contact,
            "Date": "not a date" if p.bad_ledger_date else self.ms_date[p.issue_day],
            "DateString": "not a date" if p.bad_ledger_date else self.iso_midnight[p.issue_day],
            "DueDate": self.ms_date[p.ledger_due_day],
            "DueDateString": self.iso_midnight[p.ledger_due_day],
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": lines,
            "SubTotal": sub,
            "TotalTax": tax,
            "Total": total,
            "AmountDue": due,
            "AmountPaid": paid,
            "AmountCredited": credited if not p.ledger_void else _ZERO,
            "CurrencyCode": p.currency,
            "CurrencyRate": p.rate or _RATE1,
            "IsDiscounted": False,
            "HasAttachments": False,
            "HasErrors": False,
            "Payments": summaries,
            "CreditNotes": [],
            "UpdatedDateUTC": f"/Date({self.ms_day[up_day] + up_sec * 1000}+0000)/",
        }
        if status == "PAID":
            invoice["FullyPaidOnDate"] = self.ms_date[last_day]
        self.xi.append(invoice)

    def payment(
        self, pid: str, kind: str, amount: Decimal, day: int, ref: str, code: str, target: dict[str, Any], p: Plan
    ) -> dict[str, Any]:
        rate = p.rate or _RATE1
        return {
            "PaymentID": pid,
            "Date": self.ms_date[day],
            "BankAmount": amount if p.rate is None else q(amount / rate),
            "Amount": amount,
            "Reference": ref,
            "CurrencyRate": rate,
            "PaymentType": kind,
            "Status": "AUTHORISED",
            "UpdatedDateUTC": self.spread(day, 11, pid),
            "HasAccount": True,
            "IsReconciled": False,
            "Account": self.account_refs[code],
            "Invoice": target,
        }

    def _credit(self, p: Plan, contact: dict[str, str]) -> None:
        """A credit note raised for the customer and left unallocated (no Reference: it names no invoice)."""
        assert p.ledger_credit is not None
        net, day = p.ledger_credit
        self.credit_note_no += 1
        cn_id = self.guid(f"credit:{p.slot}")
        line = self.line_item(f"credit-line:{p.slot}", "Goodwill credit", net, 1)
        gross = net + line["TaxAmount"]
        self.xc.append(
            {
                "Type": "ACCRECCREDIT",
                "CreditNoteID": cn_id,
                "CreditNoteNumber": f"CN-{self.credit_note_no:04d}",
                "Reference": "",
                "Contact": contact,
                "Date": self.ms_date[day],
                "DateString": self.iso_midnight[day],
                "Status": "AUTHORISED",
                "LineAmountTypes": "Exclusive",
                "LineItems": [line],
                "SubTotal": net,
                "TotalTax": line["TaxAmount"],
                "Total": gross,
                "RemainingCredit": gross,
                "CurrencyCode": p.currency,
                "CurrencyRate": p.rate or _RATE1,
                "Allocations": [],
                "Payments": [],
                "HasAttachments": False,
                "UpdatedDateUTC": self.spread(day, 13, cn_id),
            }
        )

    def _allocated_credit(
        self, p: Plan, i: int, pay: PayPlan, contact: dict[str, str], inv_ref: dict[str, Any]
    ) -> dict[str, Any]:
        """The overpayment, prepayment or credit note a payment is made of, allocated to this invoice (an overpayment
        keeps `pay.extra` unallocated; a prepayment is allocated on the issue day, the others on their own day)."""
        slot, day = p.slot, pay.day
        cid = self.guid(f"{pay.credit}:{slot}:{i}")
        alloc_day = max(day, p.issue_day) if pay.credit == "prepayment" else day
        gross = pay.amount + pay.extra
        allocation = {
            "AllocationID": self.guid(f"allocation:{slot}:{i}"),
            "Amount": pay.amount,
            "Date": self.ms_date[alloc_day],
            "Invoice": {"InvoiceID": inv_ref["InvoiceID"], "InvoiceNumber": inv_ref["InvoiceNumber"]},
        }
        line = {
            "LineItemID": self.guid(f"{pay.credit}-line:{slot}:{i}"),
            "Description": {"overpayment": "Overpayment", "prepayment": "Prepayment"}.get(pay.credit, "Credit"),
            "Quantity": _QTY1,
            "UnitAmount": gross,
            "AccountCode": "200",
            "TaxType": "NONE",
            "TaxAmount": _ZERO,
            "LineAmount": gross,
        }
        record: dict[str, Any] = {
            "Contact": contact,
            "Date": self.ms_date[day],
            "DateString": self.iso_midnight[day],
            "Status": "AUTHORISED" if pay.extra > 0 else "PAID",
            "LineAmountTypes": "NoTax",
            "LineItems": [line],
            "SubTotal": gross,
            "TotalTax": _ZERO,
            "Total": gross,
            "RemainingCredit": pay.extra,
            "CurrencyCode": p.currency,
            "CurrencyRate": p.rate or _RATE1,
            "Allocations": [allocation],
            "Payments": [],
            "HasAttachments": False,
            "UpdatedDateUTC": self.spread(alloc_day, 14, cid),
        }
        if pay.credit == "credit_note":
            self.xc.append(
                {
                    "Type": "ACCRECCREDIT",
                    "CreditNoteID": cid,
                    "CreditNoteNumber": pay.ledger_reference,
                    "Reference": inv_ref["InvoiceNumber"],
                    **record,
                }
            )
            return self.xc[-1]
        if pay.credit == "overpayment":
            self.xo.append({"Type": "RECEIVE-OVERPAYMENT", "OverpaymentID": cid, "Reference": pay.ledger_reference})
            self.xo[-1].update(record)
            return self.xo[-1]
        self.xr.append({"Type": "RECEIVE-PREPAYMENT", "PrepaymentID": cid, "Reference": pay.ledger_reference})
        self.xr[-1].update(record)
        return self.xr[-1]

    def _refund_from(self, p: Plan, note: dict[str, Any]) -> None:
        """A refund paid out of a credit note that is allocated to the invoice too: the note grows by the refund."""
        assert p.refund is not None
        _net, gross, day, ref = p.refund
        pid = self.guid(f"refund:{p.slot}")
        code = METHOD_ACCOUNTS[p.payments[0].method]
        target = {
            "Type": "ACCRECCREDIT",
            "InvoiceID": note["CreditNoteID"],
            "InvoiceNumber": note["CreditNoteNumber"],
            "CurrencyCode": p.currency,
        }
        refund = self.payment(pid, "ARCREDITPAYMENT", gross, day, ref, code, target, p)
        refund["CreditNote"] = {"CreditNoteID": note["CreditNoteID"], "CreditNoteNumber": note["CreditNoteNumber"]}
        self.xp.append(refund)
        total = note["Total"] + gross
        note["LineItems"][0].update(UnitAmount=total, LineAmount=total)
        note.update(SubTotal=total, Total=total, Status="PAID", FullyPaidOnDate=self.ms_date[day])
        note["Payments"].append(
            {"PaymentID": pid, "Date": self.ms_date[day], "Amount": gross, "Reference": ref, "HasAccount": False}
        )

    def _batch(self, name: str, payment: dict[str, Any]) -> None:
        """A batch payment: each invoice's Payment names it by `BatchPaymentID`; the batch lists them all."""
        batch = self.xb.get(name)
        if batch is None:
            batch = self.xb[name] = {
                "BatchPaymentID": self.guid(f"batch:{name}"),
                "Type": "RECBATCH",
                "Status": "AUTHORISED",
                "Account": payment["Account"],
                "Reference": payment["Reference"],
                "Date": payment["Date"],
                "TotalAmount": _ZERO,
                "IsReconciled": False,
                "Payments": [],
                "UpdatedDateUTC": payment["UpdatedDateUTC"],
            }
        payment["BatchPaymentID"] = batch["BatchPaymentID"]
        batch["TotalAmount"] += payment["Amount"]
        batch["Payments"].append(
            {"PaymentID": payment["PaymentID"], "Invoice": payment["Invoice"], "Amount": payment["Amount"]}
        )

    def _refund(self, p: Plan, contact: dict[str, str], number: str) -> None:
        """A refund in Xero: a credit note referencing the invoice, paid out by an ARCREDITPAYMENT."""
        assert p.refund is not None
        net, gross, day, ref = p.refund
        self.credit_note_no += 1
        cn_id = self.guid(f"creditnote:{p.slot}")
        cn_number = f"CN-{self.credit_note_no:04d}"
        pid = self.guid(f"refund:{p.slot}")
        code = METHOD_ACCOUNTS[p.payments[0].method]
        target = {"Type": "ACCRECCREDIT", "InvoiceID": cn_id, "InvoiceNumber": cn_number, "CurrencyCode": p.currency}
        refund = self.payment(pid, "ARCREDITPAYMENT", gross, day, ref, code, target, p)
        refund["CreditNote"] = {"CreditNoteID": cn_id, "CreditNoteNumber": cn_number}
        self.xp.append(refund)
        line = self.line_item(f"creditnote-line:{p.slot}", f"Refund: {p.lines[0][0]}", net, 1)
        self.xc.append(
            {
                "Type": "ACCRECCREDIT",
                "CreditNoteID": cn_id,
                "CreditNoteNumber": cn_number,
                "Reference": number,  # our convention: the credit note names the invoice it refunds
                "Contact": contact,
                "Date": self.ms_date[day],
                "DateString": self.iso_midnight[day],
                "Status": "PAID",
                "LineAmountTypes": "Exclusive",
                "LineItems": [line],
                "SubTotal": net,
                "TotalTax": line["TaxAmount"],
                "Total": gross,
                "RemainingCredit": _ZERO,
                "CurrencyCode": p.currency,
                "CurrencyRate": p.rate or _RATE1,
                "FullyPaidOnDate": self.ms_date[day],
                "Allocations": [],
                "Payments": [
                    {
                        "PaymentID": pid,
                        "Date": self.ms_date[day],
                        "Amount": gross,
                        "Reference": ref,
                        "CurrencyRate": p.rate or _RATE1,
                        "HasAccount": False,
                        "HasValidationErrors": False,
                    }
                ],
                "HasAttachments": False,
                "UpdatedDateUTC": self.spread(day, 12, pid),
            }
        )

    # --- envelopes ------------------------------------------------------------------------------------------------
    def envelope(self, name: str, items: list[dict[str, Any]], paged: bool = True) -> dict[str, Any]:
        last = self.ms_day[self.days] + 86_399_000
        env: dict[str, Any] = {
            "Id": self.guid(f"response:{name}"),
            "Status": "OK",
            "ProviderName": "Recondesk sandbox",
            "DateTimeUTC": f"/Date({last})/",
        }
        if paged:
            env["pagination"] = {"page": 1, "pageSize": max(1, len(items)), "pageCount": 1, "itemCount": len(items)}
        env[name] = items
        return env

    def spread(self, day: int, hour: int, guid: str) -> str:
        """An `UpdatedDateUTC` in `hour` of `day`, at a second taken from the record's GUID: real records of one day
        are not all stamped the same second (which would make every incremental sync re-read them all), and no draw
        from the shared random stream is needed (which would move every record generated after it)."""
        second = int(guid.replace("-", "")[:8], 16) % 3600
        return f"/Date({self.ms_day[day] + 3_600_000 * hour + second * 1000}+0000)/"

    def contact_updated(self, contact_id: str) -> str:
        """A contact's `UpdatedDateUTC`: a second of the month taken from its GUID, so it is deterministic without
        drawing from the shared random stream (which would move every record generated after it). Real contacts
        carry one, and without it `If-Modified-Since` cannot leave unchanged contacts out."""
        second = int(contact_id[:8], 16) % (self.days * 86_400)
        return f"/Date({self.ms_day[1] + second * 1000}+0000)/"

    def envelopes(self) -> dict[str, dict[str, Any]]:
        contacts = [
            {
                "ContactID": ref["ContactID"],
                "ContactStatus": "ACTIVE",
                "Name": name,
                "EmailAddress": "accounts@" + re.sub(r"[^a-z]", "", name.lower())[:20] + ".example",
                "IsCustomer": True,
                "IsSupplier": False,
                "HasValidationErrors": False,
                "UpdatedDateUTC": self.contact_updated(ref["ContactID"]),
            }
            for name, ref in self.contact_refs.items()
        ]
        organisation = {
            "OrganisationID": self.guid("organisation"),
            "Name": "Recondesk Sandbox Training Ltd",
            "LegalName": "Recondesk Sandbox Training Ltd",
            "PaysTax": True,
            "Version": "UK",
            "OrganisationType": "COMPANY",
            "BaseCurrency": BASE_CURRENCY,
            "CountryCode": "GB",
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "SalesTaxBasis": "ACCRUALS",
            "SalesTaxPeriod": "QUARTERLY1",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "Timezone": "GMTSTANDARDTIME",
            "OrganisationEntityType": "COMPANY",
            "ShortCode": "!" + self.guid("shortcode")[:5],
            "Edition": "BUSINESS",
            "Class": "STANDARD",
        }
        tax_rates = [
            {
                "Name": "20% (VAT on Income)",
                "TaxType": "OUTPUT2",
                "ReportTaxType": "OUTPUT",
                "Status": "ACTIVE",
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": False,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": True,
                "DisplayTaxRate": Decimal("20.0000"),
                "EffectiveRate": Decimal("20.0000"),
                "TaxComponents": [
                    {"Name": "VAT", "Rate": Decimal("20.0000"), "IsCompound": False, "IsNonRecoverable": False}
                ],
            },
            {
                "Name": "No VAT",
                "TaxType": "NONE",
                "ReportTaxType": "NONE",
                "Status": "ACTIVE",
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": True,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": True,
                "DisplayTaxRate": Decimal("0.0000"),
                "EffectiveRate": Decimal("0.0000"),
                "TaxComponents": [
                    {"Name": "None", "Rate": Decimal("0.0000"), "IsCompound": False, "IsNonRecoverable": False}
                ],
            },
        ]
        return {
            "Invoices": self.envelope("Invoices", self.xi),
            "Payments": self.envelope("Payments", self.xp),
            "CreditNotes": self.envelope("CreditNotes", self.xc),
            "BatchPayments": self.envelope("BatchPayments", list(self.xb.values()), paged=False),
            "Overpayments": self.envelope("Overpayments", self.xo),
            "Prepayments": self.envelope("Prepayments", self.xr),
            "Contacts": self.envelope("Contacts", contacts),
            "TaxRates": self.envelope("TaxRates", tax_rates, paged=False),
            "Accounts": self.envelope("Accounts", list(self.accounts.values()), paged=False),
            "Organisation": self.envelope("Organisations", [organisation], paged=False),
        }
