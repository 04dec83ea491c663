"""The HTTP probe against the demo cloud and against misbehaving servers, on loopback."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from app.adapters.bandwidth import HttpBandwidthProbe
from app.adapters.bandwidth.socket_link import tcp_info
from app.core.bandwidth import Preflight, ProbeCancelled, ProbePolicy, Verdict
from app.core.errors import AuthFailed, CaptivePortal, CloudUnreachable, NotConfigured
from tests.bandwidth import rawserver
from tests.bandwidth.rawserver import RawServer
from tests.bandwidth.test_bandwidth_preflight import MemoryStore
from tests.conftest import wait_until

TOKEN = "demo-token"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="TCP_INFO with tcpi_bytes_acked is Linux only")


def preflight(probe: HttpBandwidthProbe, **kwargs: object) -> Preflight:
    return Preflight(probe, MemoryStore(), lambda: datetime.now(timezone.utc), ProbePolicy(),
                     monotonic=time.monotonic, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def raw() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for server in servers:
        server.close()


def serve(raw: list[RawServer], handler: rawserver.Handler, **kwargs: object) -> RawServer:
    server = RawServer(handler, **kwargs)  # type: ignore[arg-type]
    raw.append(server)
    return server


@linux_only
def test_tcp_info_reads_the_acknowledged_byte_count():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    with listener, client, peer:
        before = tcp_info(client)
        assert before is not None
        client.sendall(b"x" * 100_000)
        # Offset 120 of struct tcp_info: the count moves by exactly what the peer acknowledged.
        wait_until(lambda: tcp_info(client)[0] - before[0] == 100_000, timeout=5)  # type: ignore[index]


@linux_only
def test_a_loopback_check_counts_acknowledged_bytes(demo_cloud):
    result = preflight(HttpBandwidthProbe(demo_cloud.url, TOKEN)).check(0)
    assert result.verdict is Verdict.OK
    assert result.method == "tcp_info_acked"
    assert result.details["up"]["server_bytes"] > 0  # the server's own count, kept as a check
    assert 0 < result.bytes_up <= 2_000_000 and 0 < result.bytes_down <= 2_000_000


def test_the_server_count_method_works_without_tcp_info(demo_cloud):
    probe = HttpBandwidthProbe(demo_cloud.url, TOKEN, method="server_count")
    result = preflight(probe).check(0)
    assert result.verdict is Verdict.OK, result.reason
    assert result.method == "server_count"
    assert result.details["up"]["delivered"] == result.details["up"]["server_bytes"]
    assert result.bytes_up <= 2_000_000


def test_the_probe_follows_the_current_cloud_and_token(demo_cloud):
    endpoint = {"url": "", "token": None}
    probe = HttpBandwidthProbe(lambda: (endpoint["url"], endpoint["token"]))
    assert "No cloud URL" in preflight(probe).check(0).reason
    endpoint.update(url=demo_cloud.url, token=TOKEN)
    assert preflight(probe).check(0).verdict is Verdict.OK


def test_a_wrong_token_is_auth_failed(demo_cloud):
    probe = HttpBandwidthProbe(demo_cloud.url, "not-the-token")
    with pytest.raises(AuthFailed):
        probe.connect()
    result = preflight(probe).check(0)
    assert result.verdict is Verdict.OFFLINE and "token" in result.reason


def test_no_token_is_not_configured():
    with pytest.raises(NotConfigured):
        HttpBandwidthProbe("http://127.0.0.1:9", None).connect()


def test_a_refused_connection_is_unreachable():
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    with pytest.raises(CloudUnreachable) as caught:
        HttpBandwidthProbe(f"http://127.0.0.1:{port}", TOKEN).connect()
    assert not isinstance(caught.value, CaptivePortal)


def test_a_captive_portal_answering_html_is_recognised(raw):
    server = serve(raw, rawserver.captive_portal)
    with pytest.raises(CaptivePortal):
        HttpBandwidthProbe(server.url, TOKEN).connect()
    result = preflight(HttpBandwidthProbe(server.url, TOKEN)).check(0)
    assert result.verdict is Verdict.OFFLINE
    assert "log in" in result.reason


def test_a_401_from_elsewhere_is_auth_failed(raw):
    server = serve(raw, rawserver.unauthorized)
    with pytest.raises(AuthFailed):
        HttpBandwidthProbe(server.url, TOKEN).connect()


@linux_only
def test_a_server_that_stops_reading_mid_upload_ends_offline(raw):
    server = serve(raw, rawserver.stops_reading_upload, rcvbuf=16 * 1024)
    started = time.monotonic()
    result = preflight(HttpBandwidthProbe(server.url, TOKEN)).check(0)
    assert result.verdict is Verdict.OFFLINE
    assert result.details["up"]["decided_by"] == "stalled"
    assert "stopped" in result.reason
    assert time.monotonic() - started < 10  # bounded: the stall rule, not a socket timeout


def test_a_server_dying_mid_upload_ends_offline(raw):
    server = serve(raw, rawserver.dies_mid_upload)
    result = preflight(HttpBandwidthProbe(server.url, TOKEN)).check(0)
    assert result.verdict is Verdict.OFFLINE
    assert result.details["error"] == "CloudUnreachable"


@linux_only  # elsewhere the progress poller would trip over this server's fake answers first
def test_cancel_mid_upload_stops_quickly_and_closes_the_socket(raw):
    server = serve(raw, rawserver.slow_reader_until_released)
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            preflight(HttpBandwidthProbe(server.url, TOKEN)).check(0, cancel)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: any(h.startswith(b"POST") for h in server.requests), timeout=5)
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ProbeCancelled)
    assert server.peer_gone.wait(5)  # the server saw our socket go away


@pytest.fixture
def tls_cloud(demo_cloud) -> Iterator[tuple[str, ssl.SSLContext]]:
    """The demo cloud behind TLS with a throwaway CA; yields its https URL and a client context
    that trusts that CA (and verifies host names, like the default context)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    host, port = demo_cloud.url.removeprefix("http://").split(":")
    proxy = rawserver.TlsProxy((host, int(port)), server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    yield proxy.url, client_context
    proxy.close()


def test_https_with_a_verified_certificate(tls_cloud):
    url, context = tls_cloud
    result = preflight(HttpBandwidthProbe(url, TOKEN, ssl_context=context)).check(0)
    assert result.verdict is Verdict.OK, result.reason
    if sys.platform.startswith("linux"):
        assert result.method == "tcp_info_acked"  # the TLS record overhead passes the check


def test_https_with_an_unknown_certificate_is_not_trusted(tls_cloud):
    url, _ = tls_cloud
    result = preflight(HttpBandwidthProbe(url, TOKEN)).check(0)  # the default trust store
    assert result.verdict is Verdict.OFFLINE
    assert "could not be verified" in result.reason


def test_the_wait_for_a_downloads_first_byte_comes_off_its_share_of_the_budget(raw):
    # The check's budget runs from its start; the download's clock from its first byte. What
    # the request and the answer's first byte took must come off the download's cap, or a
    # check behind a deep queue overruns its 3 s.
    from app.core.bandwidth import RateWatcher

    server = serve(raw, rawserver.slow_first_byte)
    link = HttpBandwidthProbe(server.url, TOKEN).connect()
    watcher = RateWatcher(ProbePolicy(), link.rtt_seconds, time_cap=2.0)
    try:
        link.download(watcher)
    finally:
        link.close()
    assert watcher.time_cap <= 2.0 - rawserver.FIRST_BYTE_DELAY


@linux_only
def test_bytes_already_in_the_socket_at_the_first_byte_are_not_counted(raw):
    # They arrived before the download's clock started: counted, they read the link high.
    from app.core.bandwidth import RateWatcher

    server = serve(raw, rawserver.download_with_a_backlog)
    link = HttpBandwidthProbe(server.url, TOKEN).connect()
    try:
        transfer = link.download(RateWatcher(ProbePolicy(), link.rtt_seconds))
    finally:
        link.close()
    assert transfer.method == "tcp_info_received"
    total = rawserver.BACKLOG + 240_000
    assert transfer.estimate.delivered <= total - rawserver.BACKLOG // 2
