"""Tests of the sandbox plumbing (`app.sandbox.common`, `runner`): exact JSON, the faults vocabulary, the rate
limiter, and the admin endpoints and fault behaviour of `SandboxApp` over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from app.sandbox.common import (
    Faults,
    RateLimiter,
    SandboxApp,
    Server,
    dumps,
    json_response,
    loads,
    parse_spec,
    serve,
)

# ---- JSON ---------------------------------------------------------------------------------------------


def test_dumps_writes_decimals_exactly_and_loads_reads_them_back() -> None:
    value = {"a": Decimal("0.10"), "b": Decimal("12345678901234567890.123456789"), "c": [1, None, True, "é"]}
    text = dumps(value)
    assert text == '{"a":0.10,"b":12345678901234567890.123456789,"c":[1,null,true,"é"]}'.encode()
    back = loads(text)
    assert back == value and str(back["a"]) == "0.10"  # the trailing zero survives
    assert isinstance(loads("1.5"), Decimal)


def test_dumps_dates_and_rejects_what_json_cannot_hold() -> None:
    assert dumps({"d": date(2026, 10, 14), "s": "2026-10-14T00:00:00"}) == (
        b'{"d":"2026-10-14","s":"2026-10-14T00:00:00"}'
    )
    assert dumps(datetime(2026, 1, 2, 3, 4, 5)) == b'"2026-01-02T03:04:05"'
    with pytest.raises(ValueError):
        dumps(Decimal("NaN"))
    with pytest.raises(TypeError):
        dumps(object())


def test_json_response_sets_type_status_and_headers() -> None:
    r = json_response({"x": Decimal("1.00")}, status=201, headers={"X-Test": "1"})
    assert r.status_code == 201 and r.mimetype == "application/json" and r.headers["X-Test"] == "1"
    assert r.get_data() == b'{"x":1.00}'


# ---- faults ------------------------------------------------------------------------------------------


def test_parse_spec() -> None:
    assert parse_spec("") == {}
    assert parse_spec("latency=0.05, error503=0.1,burst429=3x,xero:reset=1x") == {
        "latency": "0.05",
        "error503": "0.1",
        "burst429": "3x",
        "xero:reset": "1x",
    }
    with pytest.raises(ValueError):
        parse_spec("latency")


def test_counted_fault_fires_exactly_n_times_and_shows_what_is_left() -> None:
    faults = Faults("burst429=2x")
    assert faults.draw("GET", "/x") == "burst429"
    assert faults.as_dict() == {"burst429": "1x"}
    assert faults.draw("GET", "/x") == "burst429"
    assert faults.draw("GET", "/x") is None
    assert faults.as_dict() == {"burst429": "0x"}


def test_probability_is_seeded_and_reproducible() -> None:
    def run() -> list[str | None]:
        faults = Faults("error503=0.5,seed=7")
        return [faults.draw("GET", "/x") for _ in range(40)]

    first = run()
    assert first == run()
    assert 5 < first.count("error503") < 35  # a coin, not a constant
    assert Faults("error503=1").draw("GET", "/x") == "error503"
    assert Faults("error503=0").draw("GET", "/x") is None


def test_only_limits_faults_to_matching_paths_and_drop_after_commit_to_writes() -> None:
    faults = Faults("error500=1x,only=/Invoice")
    assert faults.draw("GET", "/api/v2/Transaction") is None
    assert faults.draw("GET", "/api/v2/Invoice") == "error500"
    faults.replace({"drop_after_commit": "1x"})
    assert faults.draw("GET", "/x") is None  # a read does not spend it
    assert faults.draw("PUT", "/x") == "drop_after_commit"


def test_bad_fault_values_are_refused_and_extra_settings_kept() -> None:
    with pytest.raises(ValueError):
        Faults("error503=lots")
    with pytest.raises(ValueError):
        Faults("error503=1.5")
    with pytest.raises(ValueError):
        Faults("latency=-1")
    faults = Faults({"token_ttl": 5, "limit_hour": "20"})
    assert faults.get("token_ttl") == "5" and faults.get_float("limit_hour", 0) == 20.0


# ---- rate limiter ------------------------------------------------------------------------------------


def test_rate_limiter_slides_and_keeps_keys_apart() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.hit("a") == (True, 0, 1)
    now[0] += 4
    assert limiter.hit("a") == (True, 0, 0)
    assert limiter.hit("a") == (False, 6, 0)  # the first hit leaves the window at t=1010
    assert limiter.hit("b")[0] is True
    now[0] += 6
    assert limiter.hit("a")[0] is True
    assert limiter.hit("a")[0] is False
    limiter.reset()
    assert limiter.hit("a")[0] is True


# ---- SandboxApp over HTTP ----------------------------------------------------------------------------


class EchoApp(SandboxApp):
    """A minimal service: counts writes, answers JSON with a Decimal."""

    name = "echo"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.writes = 0
        self.limits_reset = 0

    def handle(self, request: Request) -> Response:
        if request.method in ("POST", "PUT"):
            self.writes += 1
        if request.path == "/boom":
            raise RuntimeError("bug in the emulator")
        return json_response({"amount": Decimal("12.50"), "writes": self.writes, "pad": "x" * 40})

    def state(self) -> dict[str, Any]:
        return {"Things": {"results": [{"writes": self.writes}]}}

    def reset_limits(self) -> None:
        self.limits_reset += 1


@pytest.fixture
def echo() -> Iterator[tuple[EchoApp, Server]]:
    app = EchoApp()
    server = serve(app)
    yield app, server
    server.stop()


def _set_faults(server: Server, spec: str) -> None:
    r = requests.post(server.url + "/__admin/faults", json={"spec": spec}, timeout=5)
    assert r.status_code == 200, r.text


def test_serve_binds_loopback_on_a_free_port(echo: tuple[EchoApp, Server]) -> None:
    _, server = echo
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    assert requests.get(server.url + "/x", timeout=5).json(parse_float=Decimal)["amount"] == Decimal("12.50")


def test_admin_endpoints_state_requests_faults_reset(echo: tuple[EchoApp, Server]) -> None:
    app, server = echo
    requests.post(server.url + "/things?a=1", json={}, headers={"Idempotency-Key": "k-1"}, timeout=5)
    requests.get(server.url + "/things", timeout=5)
    assert requests.get(server.url + "/__admin/state", timeout=5).json() == {"Things": {"results": [{"writes": 1}]}}
    log = requests.get(server.url + "/__admin/requests", timeout=5).json()
    assert [(e["method"], e["path"], e["query"], e["status"], e["idempotency_key"]) for e in log] == [
        ("POST", "/things", "a=1", 200, "k-1"),
        ("GET", "/things", "", 200, None),
    ]
    assert log[0]["at"].endswith("Z")

    r = requests.post(server.url + "/__admin/faults", json={"error503": "2x", "latency": 0}, timeout=5)
    assert r.status_code == 200 and r.json() == {"error503": "2x", "latency": "0"}
    assert requests.get(server.url + "/__admin/faults", timeout=5).json() == {
        "error503": "2x",
        "latency": "0",
    }
    # Admin calls are never faulted or logged, even with a fault armed.
    assert len(requests.get(server.url + "/__admin/requests", timeout=5).json()) == 2
    bad = requests.post(server.url + "/__admin/faults", json={"spec": "reset=often"}, timeout=5)
    assert bad.status_code == 400 and "reset" in bad.json()["errors"][0]["message"]

    r = requests.post(server.url + "/__admin/reset", timeout=5)
    assert r.status_code == 200 and app.limits_reset == 1
    assert requests.get(server.url + "/__admin/requests", timeout=5).json() == []
    assert requests.get(server.url + "/__admin/nothing", timeout=5).status_code == 404


def test_error_faults_answer_without_touching_the_service(echo: tuple[EchoApp, Server]) -> None:
    app, server = echo
    _set_faults(server, "error500=1x")
    assert requests.post(server.url + "/w", timeout=5).status_code == 500
    _set_faults(server, "error503=1x")
    r = requests.post(server.url + "/w", timeout=5)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    _set_faults(server, "burst429=2x,retry_after=3")
    for _ in range(2):
        r = requests.get(server.url + "/w", timeout=5)
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert requests.get(server.url + "/w", timeout=5).status_code == 200
    assert app.writes == 0
    statuses = [e["status"] for e in requests.get(server.url + "/__admin/requests", timeout=5).json()]
    assert statuses == [500, 503, 429, 429, 200]


def test_html200_is_an_html_page_with_status_200(echo: tuple[EchoApp, Server]) -> None:
    _, server = echo
    _set_faults(server, "html200=1x")
    r = requests.get(server.url + "/w", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        r.json()


def test_truncate_cuts_the_body_in_half(echo: tuple[EchoApp, Server]) -> None:
    _, server = echo
    whole = requests.get(server.url + "/w", timeout=5).content
    _set_faults(server, "truncate=1x")
    cut = requests.get(server.url + "/w", timeout=5)
    assert cut.status_code == 200 and cut.content == whole[: len(whole) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)


def test_reset_raises_connection_error_at_the_client(echo: tuple[EchoApp, Server]) -> None:
    app, server = echo
    _set_faults(server, "reset=1x")
    with pytest.raises(requests.ConnectionError):
        requests.post(server.url + "/w", timeout=5)
    assert app.writes == 0  # reset happens before the service runs
    assert requests.get(server.url + "/w", timeout=5).status_code == 200  # the server lives on
    log = requests.get(server.url + "/__admin/requests", timeout=5).json()
    assert log[0]["status"] is None and log[0]["fault"] == "reset"


def test_drop_after_commit_writes_then_drops(echo: tuple[EchoApp, Server]) -> None:
    app, server = echo
    _set_faults(server, "drop_after_commit=1x")
    assert requests.get(server.url + "/w", timeout=5).status_code == 200  # reads are not dropped
    with pytest.raises(requests.ConnectionError):
        requests.put(server.url + "/w", json={}, timeout=5)
    assert app.writes == 1
    assert requests.get(server.url + "/__admin/state", timeout=5).json()["Things"]["results"] == [{"writes": 1}]


def test_timeout_and_latency_delay_the_answer(echo: tuple[EchoApp, Server]) -> None:
    _, server = echo
    _set_faults(server, "timeout=1x,timeout_seconds=3")
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(server.url + "/w", timeout=0.3)
    assert time.monotonic() - started < 2
    _set_faults(server, "latency=0.2")
    started = time.monotonic()
    assert requests.get(server.url + "/w", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_a_bug_in_the_service_is_a_500_not_a_dead_server(echo: tuple[EchoApp, Server]) -> None:
    _, server = echo
    r = requests.get(server.url + "/boom", timeout=5)
    assert r.status_code == 500 and "RuntimeError" in r.json()["errors"][0]["message"]
    assert requests.get(server.url + "/w", timeout=5).status_code == 200


# ---- runner ------------------------------------------------------------------------------------------


def _write_fixtures(root: Any) -> None:
    ap = root / "accessplanit"
    ap.mkdir(parents=True)
    invoice = {"ID": "1", "Reference": "INV-1", "Amount": Decimal("10.00"), "Tax": Decimal("2.00")}
    (ap / "Invoice.json").write_bytes(dumps({"results": [invoice]}))
    (ap / "Transaction.json").write_bytes(b'{"results": []}')


def test_split_faults_targets_one_server() -> None:
    from app.sandbox.runner import split_faults

    ap, xero = split_faults("latency=0.1,accessplanit:error503=1x,xero:burst429=2x,seed=3")
    assert ap == {"latency": "0.1", "error503": "1x", "seed": "3"}
    assert xero == {"latency": "0.1", "burst429": "2x", "seed": "3"}
    with pytest.raises(ValueError):
        split_faults("quickbooks:reset=1x")


def test_load_fixtures_reads_the_documented_layout(tmp_path: Any) -> None:
    from app.sandbox.runner import load_fixtures

    _write_fixtures(tmp_path)
    (tmp_path / "xero").mkdir()
    (tmp_path / "xero" / "Invoices.json").write_text('{"Invoices": []}')
    data = load_fixtures(tmp_path)
    assert data["accessplanit"]["Invoice"][0]["Amount"] == Decimal("10.00")
    assert data["accessplanit"]["Transaction"] == [] and "InvoiceItem" not in data["accessplanit"]
    assert data["xero"] == {"Invoices": {"Invoices": []}}
    (tmp_path / "accessplanit" / "InvoiceItem.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"InvoiceItem\.json"):
        load_fixtures(tmp_path)
    with pytest.raises(ValueError):
        load_fixtures(tmp_path / "missing")


def test_start_sandboxes_from_fixtures_with_targeted_faults(tmp_path: Any) -> None:
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    _write_fixtures(tmp_path)
    opts = SandboxOptions(fixtures=str(tmp_path), faults="accessplanit:burst429=1x")
    with start_sandboxes(opts) as boxes:
        info = boxes.info
        # Fixtures get expected statuses from the generator's oracle too (a list, possibly short for hand-made data).
        assert isinstance(boxes.expected, list)
        ap = info["accessplanit"]
        assert ap["username"] == "demo" and ap["url"].startswith("http://127.0.0.1:")
        assert ap["url"].endswith("/accessplan") and ap["password"] and ap["api_key"]
        headers = {"Authorization": f"Bearer {ap['api_key']}"}
        assert requests.get(ap["url"] + "/api/v2/Invoice", headers=headers, timeout=5).status_code == 429
        rows = requests.get(ap["url"] + "/api/v2/Invoice", headers=headers, timeout=5).json()["results"]
        assert [r["Reference"] for r in rows] == ["INV-1"]
        if boxes.xero is not None:  # the Xero emulator is another engineer's; when present it is wired in
            assert info["xero"]["url"] == boxes.xero.url + "/api.xro/2.0"
            assert info["xero"]["identity_url"] == boxes.xero.url and info["xero"]["client_secret"]
            assert boxes.xero_app is not None and boxes.xero_app.faults.as_dict() == {}
        json.dumps(info)  # the first line `recondesk sandbox` prints
    with pytest.raises(requests.ConnectionError):
        requests.get(ap["url"] + "/api/v2/Invoice", headers=headers, timeout=2)


def test_credentials_are_fresh_per_start(tmp_path: Any) -> None:
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    _write_fixtures(tmp_path)
    with start_sandboxes(SandboxOptions(fixtures=str(tmp_path))) as one:
        with start_sandboxes(SandboxOptions(fixtures=str(tmp_path))) as two:
            assert one.info["accessplanit"]["password"] != two.info["accessplanit"]["password"]
            assert one.accessplanit.port != two.accessplanit.port


def test_start_sandboxes_serves_the_generated_month() -> None:
    from app.sandbox.runner import SandboxOptions, start_sandboxes

    with start_sandboxes(SandboxOptions(seed=3, invoices=12, month="2026-10")) as boxes:
        assert boxes.expected  # the generator's expected items, for `--expected`
        ap = boxes.info["accessplanit"]
        headers = {"Authorization": f"Bearer {ap['api_key']}"}
        served = requests.get(ap["url"] + "/api/v2/Invoice?$top=1000", headers=headers, timeout=5).json()["results"]
        assert served == requests.get(boxes.accessplanit.url + "/__admin/state", timeout=5).json()["Invoice"]["results"]
        assert served
