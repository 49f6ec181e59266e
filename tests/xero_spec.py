"""Xero's own OpenAPI files (`tests/specs`, copied unchanged from Xero's repository: see its SOURCE.md; or the folder
in `RECONDESK_SPECS`), loaded for openapi-core validation, and a helper that validates one real HTTP exchange as if it
had gone to api.xero.com."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

SPECS = Path(os.environ.get("RECONDESK_SPECS") or Path(__file__).resolve().parent / "specs")
REAL_API = "https://api.xero.com/api.xro/2.0"
REAL_ROOT = "https://api.xero.com"


def fix_boolean_defaults(node: Any) -> int:
    """The spec writes some boolean defaults as the strings 'false'/'true' (SOURCE.md); openapi-core would fill them
    into request bodies and then refuse them, so they become real booleans in memory (and are dropped on read-only
    fields, where the validator would otherwise "write" them into every request body)."""
    fixed = 0
    if isinstance(node, dict):
        if node.get("type") == "boolean" and node.get("default") in ("false", "true"):
            node["default"] = node["default"] == "true"
            fixed += 1
        if node.get("readOnly") is True and "default" in node:
            del node["default"]
            fixed += 1
        for value in node.values():
            fixed += fix_boolean_defaults(value)
    elif isinstance(node, list):
        for value in node:
            fixed += fix_boolean_defaults(value)
    return fixed


def _read(name: str) -> Any:
    with open(SPECS / name, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def accounting_spec() -> OpenAPI:
    """The accounting spec; strict self-validation is off because the file does not pass it (SOURCE.md)."""
    data = _read("xero_accounting.yaml")
    fix_boolean_defaults(data)
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


@functools.cache
def identity_spec() -> OpenAPI:
    """The identity spec. Its schema says date-time for createdDateUtc/updatedDateUtc, but its own example (and the
    live service) writes them without a zone and with 7 fractional digits, so that format check is dropped."""
    data = _read("xero-identity.yaml")
    for field in ("createdDateUtc", "updatedDateUtc"):
        data["components"]["schemas"]["Connection"]["properties"][field].pop("format")
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


def validate_exchange(
    spec: OpenAPI,
    response: requests.Response,
    base: str,
    real: str,
    *,
    check_request: bool = True,
    check_response: bool = True,
) -> None:
    """Validate `response` (and its request) as if the request had gone to `real` instead of `base`.
    openapi-core does not check OAuth2 security schemes; every other error fails."""
    prepared = response.request.copy()
    prepared.url = str(prepared.url).replace(base, real, 1)
    openapi_request = RequestsOpenAPIRequest(prepared)
    if check_request:
        result = spec.unmarshal_request(openapi_request)
        errors = [e for e in result.errors if "Security" not in type(e).__name__]
        assert not errors, f"{prepared.method} {prepared.url}: {[str(e) for e in errors]}"
    if check_response:
        spec.validate_response(openapi_request, RequestsOpenAPIResponse(response))
