"""Transport: plain http:// only to loopback, certificates always verified, a corporate CA bundle as an option.

A real HTTPS server with a self-signed certificate for 127.0.0.2 (made here with `cryptography`) answers; the client
refuses it with a message naming the certificate problem, then accepts it once `ca_bundle` names that certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.connectors.accessplanit.profile import ACCESSPLANIT
from app.connectors.http import HttpClient, HttpConfig
from app.credentials import MemoryCredentialStore
from app.domain.errors import ConfigurationError, ConnectorError
from app.domain.status import System
from app.domain.transport import check_transport
from app.services.api import ConnectionInfo
from app.services.connections import Connections
from app.storage.db import Database


def _self_signed(directory: Path, ip: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Recondesk test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"hello": "tls"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = _self_signed(tmp_path, "127.0.0.2")
    server = ThreadingHTTPServer(("127.0.0.2", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.2:{server.server_address[1]}/api", cert
    finally:
        server.shutdown()
        server.server_close()


def test_a_self_signed_certificate_is_refused_with_its_problem_named(tls_server: tuple[str, Path]) -> None:
    url, _cert = tls_server
    client = HttpClient(ACCESSPLANIT, config=HttpConfig(max_attempts=3, backoff_base=0.01))
    with pytest.raises(ConnectorError) as caught:
        client.request("GET", url)
    text = caught.value.user_text()
    assert "certificate was refused: self-signed certificate" in text, text
    assert "ca_bundle" in text
    assert client.stats.calls == 1  # a refused certificate is not retried


def test_the_ca_bundle_setting_makes_the_same_server_trusted(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    client = HttpClient(ACCESSPLANIT, config=HttpConfig(ca_bundle=str(cert)))
    assert client.request("GET", url).data == {"hello": "tls"}


def test_a_missing_ca_bundle_file_is_a_configuration_error(tmp_path: Path) -> None:
    client = HttpClient(ACCESSPLANIT, config=HttpConfig(ca_bundle=str(tmp_path / "nope.pem")))
    with pytest.raises(ConfigurationError, match="not a readable file"):
        client.request("GET", "https://127.0.0.2:1/api")
    assert client.stats.calls == 0


@pytest.mark.parametrize(
    "url",
    ["http://acme.accessplanit.com/accessplan", "http://10.0.0.5/api", "http://[2001:db8::1]/x", "HTTP://Acme.Example"],
)
def test_plain_http_to_another_host_is_refused_before_anything_is_sent(url: str) -> None:
    client = HttpClient(ACCESSPLANIT)
    with pytest.raises(ConfigurationError) as caught:
        client.request("GET", url)
    assert client.stats.calls == 0
    assert "plain http://" in caught.value.user_text() and "https://" in caught.value.user_text()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5/x", "http://127.9.9.9/x", "http://[::1]:8/x", "http://localhost/x", "https://a.b/c", ""]
)
def test_loopback_http_and_any_https_pass(url: str) -> None:
    check_transport(url)


def test_a_connection_with_plain_http_to_another_host_is_not_saved(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    db.migrate()
    store = MemoryCredentialStore()
    connections = Connections(db, store, "p")
    info = ConnectionInfo(system=System.ACCESSPLANIT, url="http://acme.example/accessplan", username="u")
    with pytest.raises(ConfigurationError, match="plain http://"):
        connections.save(info, "the-password")
    assert store._data == {} and connections.list() == []
    connections.save(ConnectionInfo(system=System.ACCESSPLANIT, url="https://acme.example/accessplan"), "pw")
    assert len(connections.list()) == 1


def test_nothing_in_the_app_turns_certificate_checks_off() -> None:
    root = Path(__file__).resolve().parents[2] / "app"
    off = ("verify=False", "CERT_NONE", "check_hostname = False", "_create_unverified_context", "disable_warnings")
    found = [
        f"{path.relative_to(root)}: {needle}"
        for path in root.rglob("*.py")
        for needle in off
        if needle in path.read_text(encoding="utf-8")
    ]
    assert not found, found
