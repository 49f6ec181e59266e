"""Clients for the remote systems. Shared modules (`base`, `http`, `pagination`) plus one package per system.

Must not: import storage, services or ui; one system's package must not import another's.
"""
