"""Xero's identity service, emulated: authorize (no person needed), token grants, refresh-token rotation with a
grace period, revocation, and the tenant connections of a grant.

Responsibility: issue and check tokens the way identity.xero.com and login.xero.com do for an app with one client
id: the PKCE authorization code flow (S256 only), `refresh_token` with rotation (the old token keeps working for
30 minutes and gives back the same new pair; a different second refresh of it, or one after its successor was
used, is `invalid_grant`; unused tokens die after 60 days), and `client_credentials` (a custom connection: one
tenant, no refresh token). It must not know about accounting records or HTTP routing; answers are plain values
the WSGI layer turns into responses. Not thread-safe on its own: the caller holds a lock.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

GRACE_SECONDS = 30 * 60  # a rotated refresh token may be re-used this long [docs FAQ]
REFRESH_LIFETIME = 60 * 24 * 3600  # an unused refresh token expires after 60 days [docs]
# The one redirect URI registered for Recondesk (README, `app/connectors/xero/auth.py`): Xero matches redirect URIs
# exactly [docs]. `*` stands for any port [ours: tests and `--demo` listen on a free port]; the setting
# `redirect_uri=<uri>` pins one exactly.
REGISTERED_REDIRECT = "http://localhost:*/callback"
CODE_LIFETIME = 5 * 60  # [ours] Xero does not document it; short, as authorization codes are
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

# Scopes this emulator knows: the legacy broad ones (the spec) and the granular ones of 2026 [docs/2nd].
ACCOUNTING_SCOPES = frozenset(
    {
        "accounting.transactions",
        "accounting.transactions.read",
        "accounting.invoices",
        "accounting.invoices.read",
        "accounting.payments",
        "accounting.payments.read",
        "accounting.contacts",
        "accounting.contacts.read",
        "accounting.settings",
        "accounting.settings.read",
        "accounting.reports.read",
        "accounting.journals.read",
        "accounting.attachments",
        "accounting.attachments.read",
        "accounting.budgets.read",
    }
)
KNOWN_SCOPES = ACCOUNTING_SCOPES | {"openid", "profile", "email", "offline_access"}
CUSTOM_CONNECTION_SCOPES = frozenset(
    {
        "accounting.transactions",
        "accounting.contacts",
        "accounting.settings",
        "accounting.invoices",
        "accounting.payments",
    }
)


class OAuthError(Exception):
    """An OAuth error answer: `error` code, human description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Grant:
    """What a user (or a custom connection) consented to: scopes and the tenants connected."""

    grant_id: str
    scopes: frozenset[str]
    auth_event_id: str
    connections: dict[str, str]  # tenant id -> connection id
    created: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float
    forced_expired: bool = False


@dataclass
class RefreshToken:
    token: str
    grant: Grant
    issued_at: float
    request_fingerprint: str = ""
    used_at: float | None = None
    successor: dict[str, Any] | None = None  # the token response it was exchanged for
    successor_token: str | None = None


@dataclass
class _Code:
    grant: Grant
    client_id: str
    redirect_uri: str
    challenge: str
    expires_at: float
    used: bool = False


@dataclass
class Identity:
    client_id: str
    client_secret: str
    tenant_id: str
    tenant_name: str
    clock: Callable[[], float] = time.time
    token_ttl: Callable[[], int] = lambda: 1800
    # More organisations the signing-in user may connect (tenant id -> name): the browser sign-in connects them all,
    # as a user who ticks every organisation on Xero's consent page does; a custom connection reaches only the first.
    other_tenants: dict[str, str] = field(default_factory=dict)
    redirect_uris: Callable[[], tuple[str, ...]] = lambda: (REGISTERED_REDIRECT,)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, AccessToken] = field(default_factory=dict)
    _refresh: dict[str, RefreshToken] = field(default_factory=dict)
    _grants: list[Grant] = field(default_factory=list)
    created_at: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ authorize

    def authorize(self, args: Mapping[str, str]) -> str:
        """The URL to redirect to. Raises OAuthError(status 400) for a request that must not redirect (bad client
        or redirect URI); other problems redirect with `error=` as OAuth 2 says."""
        if args.get("client_id") != self.client_id:
            raise OAuthError("unauthorized_client", "Unknown client_id.", 400)
        redirect_uri = args.get("redirect_uri", "")
        if not _registered(redirect_uri, self.redirect_uris()):
            # What Xero's sign-in page shows for a redirect URI the app did not register [docs: exact match].
            raise OAuthError("unauthorized_client", "Invalid redirect_uri", 400)
        state = args.get("state")

        def fail(error: str, description: str) -> str:
            params = {"error": error, "error_description": description}
            if state is not None:
                params["state"] = state
            return _with_query(redirect_uri, params)

        if args.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be code.")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256.")
        scopes = frozenset((args.get("scope") or "").split())
        unknown = scopes - KNOWN_SCOPES
        if unknown or not scopes:
            return fail("invalid_scope", f"Unknown scope(s): {' '.join(sorted(unknown)) or '(none given)'}.")
        grant = self._new_grant(scopes, every_tenant=True)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            grant, self.client_id, redirect_uri, args["code_challenge"], self.clock() + CODE_LIFETIME
        )
        params = {"code": code, "scope": " ".join(sorted(scopes))}
        if state is not None:
            params["state"] = state
        return _with_query(redirect_uri, params)

    def _new_grant(self, scopes: frozenset[str], *, every_tenant: bool = False) -> Grant:
        now = self.clock()
        tenants = [self.tenant_id, *self.other_tenants] if every_tenant else [self.tenant_id]
        grant = Grant(str(uuid.uuid4()), scopes, str(uuid.uuid4()), {t: str(uuid.uuid4()) for t in tenants}, now)
        for tenant in tenants:
            self.created_at.setdefault(tenant, now)
        self._grants.append(grant)
        return grant

    # ------------------------------------------------------------------ token

    def token(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        client_id = basic[0] if basic else form.get("client_id")
        secret = basic[1] if basic else form.get("client_secret")
        status = 401 if basic else 400
        if client_id != self.client_id:
            raise OAuthError("invalid_client", "Unknown client_id.", status)
        if secret is not None and secret != self.client_secret:
            raise OAuthError("invalid_client", "The client secret is wrong.", status)
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == "client_credentials":
            if secret is None:
                raise OAuthError("invalid_client", "client_credentials needs Basic client_id:client_secret.", 401)
            scopes = frozenset((form.get("scope") or "").split()) or CUSTOM_CONNECTION_SCOPES
            unknown = scopes - KNOWN_SCOPES
            if unknown:
                raise OAuthError("invalid_scope", f"Unknown scope(s): {' '.join(sorted(unknown))}.")
            # A custom connection: one tenant, no refresh token even if offline_access is asked for [docs].
            grant = self._new_grant(scopes - {"offline_access"})
            return self._issue(grant, with_refresh=False)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")

    def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at < self.clock():
            raise OAuthError("invalid_grant", "The authorization code is unknown, used or expired.")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the one used to authorize.")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier) or _s256(verifier) != code.challenge:
            raise OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.")
        code.used = True
        return self._issue(code.grant, with_refresh="offline_access" in code.grant.scopes)

    def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        now = self.clock()
        old = self._refresh.get(form.get("refresh_token", ""))
        if old is None or old.grant.revoked:
            raise OAuthError("invalid_grant", "The refresh token is unknown or revoked.")
        if old.used_at is None and now - old.issued_at > REFRESH_LIFETIME:
            raise OAuthError("invalid_grant", "The refresh token expired (unused for 60 days).")
        fingerprint = _fingerprint(form)
        if old.used_at is None:
            old.used_at = now
            old.request_fingerprint = fingerprint
            response = self._issue(old.grant, with_refresh=True)
            old.successor = response
            old.successor_token = response["refresh_token"]
            return response
        successor = self._refresh.get(old.successor_token or "")
        in_grace = now - old.used_at <= GRACE_SECONDS
        same_request = fingerprint == old.request_fingerprint
        if in_grace and same_request and successor is not None and successor.used_at is None:
            # A lost response retried: the same new pair again [docs FAQ].
            assert old.successor is not None
            return dict(old.successor)
        raise OAuthError("invalid_grant", "The refresh token was already used.")

    def _issue(self, grant: Grant, *, with_refresh: bool) -> dict[str, Any]:
        now = self.clock()
        ttl = max(1, int(self.token_ttl()))
        access = _jwt(
            {
                "iss": "https://identity.xero.com",
                "exp": int(now + ttl),
                "client_id": self.client_id,
                "authentication_event_id": grant.auth_event_id,
                "scope": sorted(grant.scopes),
                "jti": secrets.token_hex(16),
            }
        )
        self._access[access] = AccessToken(access, grant, now + ttl)
        response: dict[str, Any] = {
            "access_token": access,
            "expires_in": ttl,
            "token_type": "Bearer",
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "openid" in grant.scopes:
            response["id_token"] = _jwt(
                {
                    "iss": "https://identity.xero.com",
                    "aud": self.client_id,
                    "sub": grant.grant_id,
                    "exp": int(now + 300),
                }
            )
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = RefreshToken(refresh, grant, now)
            response["refresh_token"] = refresh
        return response

    # ------------------------------------------------------------------ revocation and connections

    def revoke(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> None:
        """RFC 7009: revoking a refresh token ends the whole grant; an unknown token is not an error."""
        client_id = basic[0] if basic else form.get("client_id")
        if client_id != self.client_id or (basic and basic[1] != self.client_secret):
            raise OAuthError("invalid_client", "Unknown client or wrong secret.", 401 if basic else 400)
        token = form.get("token", "")
        found = self._refresh.get(token) or self._access.get(token)
        if found is not None:
            found.grant.revoked = True

    def revoke_all(self) -> int:
        """Admin: the user revoked the app; every grant ends (401 on the API, invalid_grant on refresh)."""
        live = [g for g in self._grants if not g.revoked]
        for grant in live:
            grant.revoked = True
        return len(live)

    def disconnect_all(self) -> int:
        """Admin: the org was disconnected from every grant (tokens live on; 403 for the tenant)."""
        count = 0
        for grant in self._grants:
            if grant.connections.pop(self.tenant_id, None):
                count += 1
        return count

    def expire_access_tokens(self) -> int:
        """Admin: every access token expires now, so a client must refresh."""
        for token in self._access.values():
            token.forced_expired = True
        return len(self._access)

    def check_bearer(self, header: str | None) -> AccessToken:
        """The access token of an `Authorization: Bearer` header; OAuthError(401) with Xero's Detail if not."""
        if not header or not header.startswith("Bearer "):
            raise OAuthError("AuthenticationUnsuccessful", "AuthenticationUnsuccessful", 401)
        token = self._access.get(header[len("Bearer ") :].strip())
        if token is None or token.grant.revoked:
            raise OAuthError("AuthenticationUnsuccessful", "AuthenticationUnsuccessful", 401)
        if token.forced_expired or token.expires_at <= self.clock():
            moment = dt.datetime.fromtimestamp(min(token.expires_at, self.clock()), dt.UTC)
            raise OAuthError("TokenExpired", f"TokenExpired: token expired at {moment:%m/%d/%Y %H:%M:%S}", 401)
        return token

    def connections(self, token: AccessToken, auth_event_id: str | None = None) -> list[dict[str, Any]]:
        grant = token.grant
        if auth_event_id and auth_event_id != grant.auth_event_id:
            return []
        names = {self.tenant_id: self.tenant_name, **self.other_tenants}
        return [
            {
                "id": connection_id,
                "authEventId": grant.auth_event_id,
                "tenantId": tenant_id,
                "tenantType": "ORGANISATION",
                "tenantName": names.get(tenant_id, ""),
                "createdDateUtc": _connection_time(self.created_at.get(tenant_id, grant.created)),
                "updatedDateUtc": _connection_time(grant.created),
            }
            for tenant_id, connection_id in grant.connections.items()
        ]

    def delete_connection(self, token: AccessToken, connection_id: str) -> bool:
        for tenant_id, cid in list(token.grant.connections.items()):
            if cid.lower() == connection_id.lower():
                del token.grant.connections[tenant_id]
                return True
        return False


def _registered(uri: str, registered: tuple[str, ...]) -> bool:
    """Exactly one of the registered redirect URIs (`*` in one: any port)."""
    for pattern in registered:
        regex = re.escape(pattern).replace(r"\*", r"[0-9]{1,5}")
        if re.fullmatch(regex, uri):
            return True
    return False


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fingerprint(form: Mapping[str, str]) -> str:
    """What makes two refresh requests "the same": everything but nothing secret-dependent [ours]."""
    return json.dumps(sorted((k, v) for k, v in form.items() if k != "client_secret"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: Mapping[str, Any]) -> str:
    """JWT-shaped tokens like Xero's, unsigned (`alg: none`): the emulator looks them up, nobody verifies them."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(dict(claims), sort_keys=True).encode())
    return f"{header}.{body}.{_b64(secrets.token_bytes(16))}"


def _connection_time(seconds: float) -> str:
    """Xero writes these without a zone and with 7 fractional digits: `2019-12-07T18:46:19.5165400`."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
