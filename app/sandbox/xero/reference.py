"""Reference data the Xero emulator serves when fixtures leave it out: a UK organisation, its chart of accounts
and VAT rates, and the tenant identity derived from them.

Responsibility: sensible, deterministic defaults (GBP, UK VAT, bank accounts 090-095, sales 200) in Xero's wire
shapes. It must not hold state or rules; the ledger decides what the data means.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from .wire import ms_to_wire

_NS = uuid.UUID("6f1c9a52-3d2e-4b8a-9d43-0f6c5b7e2a10")
_CREATED_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: fixed so defaults are identical on every run


def stable_id(*parts: str) -> str:
    """A deterministic GUID, so a restarted sandbox gives the same ids for the same defaults."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def default_organisation(tenant_id: str, name: str) -> dict[str, Any]:
    # Timezone: the spec's enum holds Windows zone names; GMTSTANDARDTIME is Europe/London [spec].
    return {
        "APIKey": "",
        "Name": name,
        "LegalName": name,
        "PaysTax": True,
        "Version": "UK",
        "OrganisationType": "COMPANY",
        "BaseCurrency": "GBP",
        "CountryCode": "GB",
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_to_wire(_CREATED_MS),
        "OrganisationEntityType": "COMPANY",
        "Timezone": "GMTSTANDARDTIME",
        "ShortCode": "!rcd01",
        "OrganisationID": tenant_id,
        "Edition": "BUSINESS",
        "Class": "STANDARD",
        "LineOfBusiness": "Training",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def _account(code: str, name: str, acc_type: str, klass: str, tax: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "AccountID": stable_id("account", code),
        "Code": code,
        "Name": name,
        "Status": "ACTIVE",
        "Type": acc_type,
        "TaxType": tax,
        "Class": klass,
        "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": False,
        "BankAccountType": "",
        "ReportingCode": "",
        "HasAttachments": False,
        "UpdatedDateUTC": ms_to_wire(_CREATED_MS),
        "AddToWatchlist": False,
    }
    record.update(extra)
    return record


def default_accounts() -> list[dict[str, Any]]:
    bank = {"BankAccountType": "BANK", "CurrencyCode": "GBP"}
    return [
        _account("090", "Business Bank Account", "BANK", "ASSET", "NONE", BankAccountNumber="40-12-34 1234567", **bank),
        _account(
            "091", "Business Savings Account", "BANK", "ASSET", "NONE", BankAccountNumber="40-12-34 7654321", **bank
        ),
        _account("092", "Card Payments Clearing", "CURRENT", "ASSET", "NONE", EnablePaymentsToAccount=True),
        _account("093", "PayPal", "BANK", "ASSET", "NONE", BankAccountType="PAYPAL", CurrencyCode="GBP"),
        _account("094", "Stripe Clearing", "CURRENT", "ASSET", "NONE", EnablePaymentsToAccount=True),
        _account("095", "Cash on Hand", "CURRENT", "ASSET", "NONE", EnablePaymentsToAccount=True),
        _account("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2"),
        _account("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT2"),
        _account("400", "Advertising", "OVERHEADS", "EXPENSE", "INPUT2"),
        _account("610", "Accounts Receivable", "CURRENT", "ASSET", "NONE", SystemAccount="DEBTORS"),
        _account("820", "VAT", "CURRLIAB", "LIABILITY", "NONE", SystemAccount="GST"),
    ]


def _tax(name: str, tax_type: str, report: str, rate: str, sales: bool) -> dict[str, Any]:
    value = Decimal(rate)
    return {
        "Name": name,
        "TaxType": tax_type,
        "ReportTaxType": report,
        "CanApplyToAssets": True,
        "CanApplyToEquity": True,
        "CanApplyToExpenses": not sales,
        "CanApplyToLiabilities": True,
        "CanApplyToRevenue": sales,
        "DisplayTaxRate": value,
        "EffectiveRate": value,
        "Status": "ACTIVE",
        "TaxComponents": [{"Name": "VAT", "Rate": value, "IsCompound": False, "IsNonRecoverable": False}],
    }


def default_tax_rates() -> list[dict[str, Any]]:
    return [
        _tax("20% (VAT on Income)", "OUTPUT2", "OUTPUT", "20.0000", True),
        _tax("5% (VAT on Income)", "RROUTPUT", "OUTPUT", "5.0000", True),
        _tax("Zero Rated Income", "ZERORATEDOUTPUT", "ZERORATEDOUTPUT", "0.0000", True),
        _tax("Exempt Income", "EXEMPTOUTPUT", "EXEMPTOUTPUT", "0.0000", True),
        _tax("20% (VAT on Expenses)", "INPUT2", "INPUT", "20.0000", False),
        _tax("No VAT", "NONE", "NONE", "0.0000", True),
    ]
