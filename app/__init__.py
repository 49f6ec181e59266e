"""Recondesk: month-end reconciliation of accessplanit and Xero."""

__version__ = "0.1.0"
