"""TLS: netcore.TLSContext, tls= on listen/connect, start_tls, tls_info,
peer_certificate and the TLS exceptions, against peers nobody here wrote
(Python's ssl and asyncio, the openssl command line) and netcore itself.
Certificates come from tests/tls/make-certs.sh, made once per session."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest

import netcore
import netcore.aio
from conftest import ROOT, WAIT, EchoServer, Pump, free_port, run_env
from test_aio_unmodified import netcore_policy  # noqa: F401 (a fixture: asyncio.run on netcore.aio)
from test_examples import py, read_line, server, stop, tool

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool("openssl")  # fails the session's TLS tests, saying what to install, when missing
    out = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(ROOT / "tests" / "tls" / "make-certs.sh"), str(out)], check=True, timeout=120)
    return out


def server_ctx(certs: Path, name: str = "server", **kw: object) -> netcore.TLSContext:
    return netcore.TLSContext.server(certs / f"{name}.pem", certs / f"{name}.key", **kw)  # type: ignore[arg-type]


def client_ctx(certs: Path, ca: str = "ca", **kw: object) -> netcore.TLSContext:
    return netcore.TLSContext.client(cafile=certs / f"{ca}.pem", **kw)  # type: ignore[arg-type]


def tls_echo(pump: Pump, ctx: netcore.TLSContext) -> EchoServer:
    """conftest's echo server, its listener switched to TLS (set_listener_tls)."""
    echo = EchoServer(pump)
    pump.loop.set_listener_tls(echo.listener, ctx)
    return echo


def close_on_eof(pump: Pump) -> None:
    """Closes each connection whose peer is done (its close_notify is the
    EOF: a peer that waits for ours before its FIN, as asyncio and openssl
    do, then gets it)."""
    pump.hooks.append(lambda ev: ev.kind == "eof" and pump.loop.close(ev.handle))


def wait_closed(pump: Pump, *handles: int) -> None:
    pump.until(lambda: all(h in pump.closed for h in handles), what=f"closed of {handles}")


def failure(pump: Pump, handle: int, kind: str = "tls_failed") -> BaseException:
    """The exception of a handle's event, raised and caught by `except
    ssl.SSLError` as the stdlib's own would be."""
    pump.until(lambda: handle in pump.closed, what=f"closed of {handle}")
    err = pump.first(handle, kind).error
    assert err is not None
    try:
        raise err
    except ssl.SSLError as caught:
        return caught


@contextmanager
def background(pump: Pump) -> Iterator[None]:
    """Drives the pump in a thread while the body talks to it from this one."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: pump.until(done.is_set, what="the test's end"))
    thread.start()
    try:
        yield
    finally:
        done.set()
        pump.loop.wake()
        thread.join(WAIT)
        assert not thread.is_alive()


def der(certs: Path, name: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert((certs / f"{name}.pem").read_text())


# --- the context ---------------------------------------------------------


def test_contexts_take_ssl_vocabulary_and_the_core_judges_the_values(certs: Path) -> None:
    srv = server_ctx(certs, alpn_protocols=["h2", b"echo"], client_auth=ssl.CERT_OPTIONAL, cafile=certs / "ca.pem")
    assert srv.server_side and srv.handshake_timeout == netcore.DEFAULT_HANDSHAKE_TIMEOUT
    cli = netcore.TLSContext.client(cadata=(certs / "ca.pem").read_text(), minimum_version=ssl.TLSVersion.TLSv1_3,
                                    handshake_timeout=2.5)
    assert not cli.server_side and cli.handshake_timeout == 2.5 and "client" in repr(cli)
    assert netcore.TLS_SUPPORTED and netcore.TLS_VERSIONS == ["TLSv1.2", "TLSv1.3"]
    assert netcore.CLIENT_AUTH_MODES == ["none", "optional", "required"]
    # The key may be in the certificate's file, as for ssl's load_cert_chain.
    both = certs / "both.pem"
    both.write_bytes((certs / "server.pem").read_bytes() + (certs / "server.key").read_bytes())
    assert netcore.TLSContext.server(both).server_side
    # The core's refusals, rendered with the argument it names.
    with pytest.raises(netcore.InvalidArgumentError, match=r"key: .*does not match"):
        netcore.TLSContext.server(certs / "server.pem", certs / "client.key")
    with pytest.raises(netcore.InvalidArgumentError, match="min_version: expected one of: tls1_2 tls1_3"):
        netcore.TLSContext.client(minimum_version="TLSv1.1")
    with pytest.raises(netcore.InvalidArgumentError, match="alpn"):
        client_ctx(certs, alpn_protocols=[""])
    with pytest.raises(netcore.InvalidArgumentError, match="client_ca"):
        server_ctx(certs, client_auth="required")
    with pytest.raises(netcore.InvalidArgumentError, match="client_auth"):
        server_ctx(certs, client_auth="sometimes")
    with pytest.raises(OSError) as missing:  # the OS's error, errno ENOENT (no class of its own)
        netcore.TLSContext.client(cafile=certs / "missing.pem")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(netcore.InvalidArgumentError, match="ca: expected trust roots"):
        netcore.TLSContext.client(load_default_certs=False)  # no roots at all
    with pytest.raises(netcore.InvalidArgumentError, match="cadata: give cafile or cadata, not both"):
        netcore.TLSContext.client(cafile=certs / "ca.pem", cadata=(certs / "ca.pem").read_text())
    with pytest.raises(netcore.InvalidArgumentError, match="verify_mode: CERT_NONE needs check_hostname=False"):
        client_ctx(certs, verify_mode=ssl.CERT_NONE)
    with pytest.raises(TypeError):
        netcore.TLSContext.client(cafile=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client_ctx(certs, alpn_protocols="h2")
    with pytest.raises(AttributeError):
        cli.server_side = True  # type: ignore[misc]


def test_contexts_take_pem_in_memory_as_cadata_certdata_and_keydata(loop: netcore.Loop, certs: Path) -> None:
    pem = {name: (certs / name).read_text() for name in ("server.pem", "server.key", "ca.pem", "client.pem",
                                                          "client.key")}
    srv = netcore.TLSContext.server(certdata=pem["server.pem"], keydata=pem["server.key"].encode(),
                                    cadata=pem["ca.pem"], client_auth="required")
    cli = netcore.TLSContext.client(cadata=pem["ca.pem"].encode(), certdata=memoryview(pem["client.pem"].encode()),
                                    keydata=bytearray(pem["client.key"].encode()))
    pump = Pump(loop)
    echo = tls_echo(pump, srv)
    client = loop.connect("127.0.0.1", echo.port, tls=cli, server_hostname="localhost")
    loop.send(client, b"from memory")
    pump.until(lambda: pump.received[client] == b"from memory", what="the echo")
    (conn,) = echo.conns
    info = loop.tls_info(conn)
    assert info is not None and info["peer_verified"]  # the client certificate, from certdata
    assert loop.peer_certificate(conn) == der(certs, "client")
    assert loop.peer_certificate(client) == der(certs, "server")
    # The key may be in certdata, as in certfile.
    assert netcore.TLSContext.server(certdata=pem["server.pem"] + pem["server.key"]).server_side
    # Bad PEM text: the core says which part and what it expected.
    with pytest.raises(netcore.InvalidArgumentError, match="cert: expected PEM text with at least one CERTIFICATE"):
        netcore.TLSContext.server(certdata="not PEM at all", keydata=pem["server.key"])
    with pytest.raises(netcore.InvalidArgumentError, match="key: expected PEM text with a private key"):
        netcore.TLSContext.server(certdata=pem["server.pem"], keydata=pem["server.pem"])
    with pytest.raises(netcore.InvalidArgumentError, match="key: expected the private key of the certificate"):
        netcore.TLSContext.client(cadata=pem["ca.pem"], certdata=pem["client.pem"], keydata=pem["server.key"])
    with pytest.raises(netcore.InvalidArgumentError, match="ca: expected PEM text with at least one usable CA"):
        netcore.TLSContext.client(cadata=b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    # One of file and data, as for cafile and cadata.
    with pytest.raises(netcore.InvalidArgumentError, match="certdata: give certfile or certdata, not both"):
        netcore.TLSContext.server(certs / "server.pem", certs / "server.key", certdata=pem["server.pem"])
    with pytest.raises(netcore.InvalidArgumentError, match="keydata: give keyfile or keydata, not both"):
        netcore.TLSContext.client(certfile=certs / "client.pem", keyfile=certs / "client.key", keydata=pem["client.key"])
    with pytest.raises(TypeError, match="needs certfile or certdata"):
        netcore.TLSContext.server(keydata=pem["server.key"])
    with pytest.raises(TypeError):
        netcore.TLSContext.server(certdata=3)  # type: ignore[arg-type]


def test_one_context_serves_loops_in_several_threads(certs: Path) -> None:
    srv, cli = server_ctx(certs), client_ctx(certs)
    results: list[bytes] = []

    def echo_once(tag: bytes) -> None:
        with netcore.Loop() as lp:
            pump = Pump(lp)
            echo = tls_echo(pump, srv)
            client = lp.connect("127.0.0.1", echo.port, tls=cli, server_hostname="localhost")
            lp.send(client, tag)
            pump.until(lambda: pump.received[client] == tag, what="the echo")
            results.append(bytes(pump.received[client]))

    threads = [threading.Thread(target=echo_once, args=(b"thread %d" % i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert sorted(results) == [b"thread %d" % i for i in range(4)]


def test_an_ssl_context_or_the_wrong_side_is_refused_and_changes_nothing(loop: netcore.Loop, certs: Path) -> None:
    stdlib = ssl.create_default_context()
    for call in (lambda: loop.listen("127.0.0.1", 0, tls=stdlib), lambda: loop.connect("127.0.0.1", 1, tls=stdlib)):
        with pytest.raises(TypeError, match="not an ssl.SSLContext.*netcore.TLSContext"):
            call()
    with pytest.raises(TypeError, match="expected a netcore.TLSContext, not str"):
        loop.listen("127.0.0.1", 0, tls="server.pem")
    with pytest.raises(netcore.InvalidArgumentError, match="tls: expected a server context"):
        loop.listen("127.0.0.1", 0, tls=client_ctx(certs))
    with pytest.raises(netcore.InvalidArgumentError, match="tls: expected a client context"):
        loop.connect("127.0.0.1", 1, tls=server_ctx(certs))
    with pytest.raises(netcore.InvalidArgumentError, match="server_name"):
        loop.connect("127.0.0.1", 1, tls=client_ctx(certs), server_hostname="not a name")
    with pytest.raises(netcore.InvalidArgumentError, match="server_hostname: only with tls="):
        loop.connect("127.0.0.1", 1, server_hostname="localhost")
    assert loop.handle_count() == 0


# --- netcore with itself, and with ssl / asyncio / openssl -------------------


def test_a_netcore_client_and_server_echo_and_report_what_they_negotiated(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs, alpn_protocols=["h2", "echo"]))
    client = loop.connect("localhost", echo.port, tls=client_ctx(certs, alpn_protocols=["echo"]))
    assert loop.tls_info(client) is None  # not before the handshake
    payload = os.urandom(MiB + 1)
    loop.send(client, payload)  # waits for the handshake
    pump.until(lambda: len(pump.received[client]) == len(payload), what="the echo")
    assert pump.received[client] == payload
    assert pump.kinds(client)[:2] == ["connected", "tls_ready"]
    info = loop.tls_info(client)
    assert info is not None and info["version"] == "TLSv1.3" and info["selected_alpn_protocol"] == "echo"
    assert info["peer_verified"] and not info["session_reused"] and info["cipher"].startswith("TLS13_")
    (conn,) = echo.conns
    assert loop.tls_info(conn) == {**info, "peer_verified": False}  # the client sent no certificate
    assert loop.peer_certificate(client) == der(certs, "server")
    assert loop.peer_certificate(client, chain=True) == [der(certs, "server")]
    assert loop.peer_certificate(conn) is None
    with pytest.raises(netcore.NotSupportedError, match="binary_form"):
        loop.peer_certificate(client, binary_form=False)
    loop.close(client)
    wait_closed(pump, client, conn)
    assert pump.closed[client].error is None and pump.closed[conn].error is None
    assert "eof" in pump.kinds(conn)  # our close_notify is a clean EOF


def test_a_netcore_server_serves_an_asyncio_client_with_ssl(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs, alpn_protocols=["echo"]))
    payload = os.urandom(2 * MiB)

    async def client() -> tuple[bytes, str | None, str | None]:
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctx.set_alpn_protocols(["echo"])
        reader, writer = await asyncio.open_connection("127.0.0.1", echo.port, ssl=ctx, server_hostname="localhost")
        writer.write(payload)
        got = await reader.readexactly(len(payload))
        sslobj = writer.get_extra_info("ssl_object")
        writer.close()
        await writer.wait_closed()
        return got, sslobj.selected_alpn_protocol(), sslobj.version()

    with background(pump):
        got, alpn, version = asyncio.run(client())
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert (alpn, version) == ("echo", "TLSv1.3")
    pump.until(lambda: not echo.conns, what="the server's close")
    assert all(ev.error is None for ev in pump.of_kind("closed"))


def test_a_netcore_client_with_a_certificate_talks_to_an_asyncio_server(loop: netcore.Loop, certs: Path) -> None:
    seen: list[object] = []

    async def main() -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
        ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
        ctx.verify_mode = ssl.CERT_REQUIRED

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("peercert")["subject"])
            writer.write(b"hello " + await reader.readexactly(5))
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        port = srv.sockets[0].getsockname()[1]
        pump = Pump(loop)
        close_on_eof(pump)
        tls = client_ctx(certs, certfile=certs / "client.pem", keyfile=certs / "client.key")
        client = loop.connect("127.0.0.1", port, tls=tls, server_hostname="localhost")
        loop.send(client, b"world")
        for _ in range(int(WAIT / 0.01)):  # bounded; asyncio runs between polls
            pump.step(0)
            if client in pump.closed:
                break
            await asyncio.sleep(0.01)
        srv.close()
        await srv.wait_closed()
        assert bytes(pump.received[client]) == b"hello world"
        assert pump.closed[client].error is None
        assert pump.kinds(client)[:2] == ["connected", "tls_ready"] and "eof" in pump.kinds(client)

    asyncio.run(main())
    assert seen == [((("commonName", "netcore-test-client"),),)]


def openssl(*args: str, stdin: bytes = b"", timeout: float = WAIT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=timeout)


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_openssl_s_client_echoes_ten_mebibytes_sha256_checked_with_alpn_and_sees_close_notify(
    loop: netcore.Loop, certs: Path, version: str
) -> None:
    pump = Pump(loop)
    size = 10 * MiB + 7
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs, alpn_protocols=["h2", "echo"]))
    port = loop.local_address(listener)[1]
    received: dict[int, int] = {}
    digest = hashlib.sha256()  # of what the server received
    negotiated: list[netcore.TLSInfo | None] = []

    def on_event(ev: netcore.Event) -> None:
        # Echo, and close once the whole payload came back (s_client -quiet
        # keeps reading until then). The queue holds it all: no EAGAIN.
        if ev.kind == "accepted":
            loop.set_option(ev.handle, netcore.HIGH_WATER, 4 * size)
        elif ev.kind == "tls_ready":
            negotiated.append(loop.tls_info(ev.handle))
        elif ev.kind == "data" and ev.data is not None:
            loop.send(ev.handle, ev.data)
            digest.update(ev.data)
            received[ev.handle] = received.get(ev.handle, 0) + len(ev.data)
            if received[ev.handle] == size:
                loop.close(ev.handle)

    pump.hooks.append(on_event)
    payload = os.urandom(size)
    result: list[subprocess.CompletedProcess[bytes]] = []
    with background(pump):
        args = ["s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(certs / "ca.pem"),
                "-verify_return_error", "-verify_hostname", "localhost", "-alpn", "echo", "-quiet", version]
        result.append(openssl(*args, stdin=payload, timeout=WAIT * 2))
    (done,) = result
    expected = hashlib.sha256(payload).digest()
    assert digest.digest() == expected, "the server got every byte"
    assert hashlib.sha256(done.stdout).digest() == expected, done.stderr
    assert b"unexpected eof" not in done.stderr.lower() and done.returncode == 0, done.stderr
    (conn,) = received
    wait_closed(pump, conn)
    assert pump.first(conn, "tls_ready") and pump.closed[conn].error is None
    (info,) = negotiated
    assert info is not None and info["selected_alpn_protocol"] == "echo"
    assert info["version"] == ("TLSv1.2" if version == "-tls1_2" else "TLSv1.3")


def test_a_netcore_client_presents_its_certificate_to_openssl_s_server(loop: netcore.Loop, certs: Path) -> None:
    port = free_port()
    args = ["openssl", "s_server", "-accept", str(port), "-cert", str(certs / "server.pem"), "-key",
            str(certs / "server.key"), "-CAfile", str(certs / "ca.pem"), "-Verify", "1", "-www", "-naccept", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        for _ in range(20):  # bounded: s_server prints a few lines before it
            if read_line(proc) == b"ACCEPT\n":
                break
        pump = Pump(loop)
        close_on_eof(pump)
        tls = client_ctx(certs, certfile=certs / "client.pem", keyfile=certs / "client.key")
        client = loop.connect("127.0.0.1", port, tls=tls)
        loop.send(client, b"GET / HTTP/1.0\r\n\r\n")
        wait_closed(pump, client)
        page = bytes(pump.received[client])
        assert page.startswith(b"HTTP/1.0 200 ok"), page[:200]
        assert b"netcore-test-client" in page  # s_server saw our certificate
        assert pump.closed[client].error is None
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        assert proc.stdout is not None
        proc.stdout.close()


# --- the failure table ---------------------------------------------------


def handshake(loop: netcore.Loop, srv: netcore.TLSContext, cli: netcore.TLSContext,
              server_hostname: str | None = None) -> tuple[Pump, int, int]:
    """A netcore server and client, run until both are closed: (pump,
    server connection, client)."""
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=srv)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1], tls=cli,
                          server_hostname=server_hostname or "localhost")
    pump.until(lambda: bool(pump.of_kind("accepted")), what="accepted")
    conn = pump.of_kind("accepted")[0].handle
    wait_closed(pump, conn, client)
    return pump, conn, client


@pytest.mark.parametrize(
    ("server_cert", "server_hostname", "name", "verify_code"),
    [("untrusted", None, "ETLSUNKNOWNCA", 20), ("expired", None, "ETLSEXPIRED", 10),
     ("server", "example.com", "ETLSBADNAME", 62)],
    ids=["unknown CA", "expired", "wrong name"],
)
def test_a_refused_server_certificate_is_an_ssl_cert_verification_error(
    loop: netcore.Loop, certs: Path, server_cert: str, server_hostname: str | None, name: str, verify_code: int
) -> None:
    pump, conn, client = handshake(loop, server_ctx(certs, server_cert), client_ctx(certs), server_hostname)
    err = failure(pump, client)
    assert type(err) is netcore.TLSCertificateError and isinstance(err, ssl.SSLCertVerificationError)
    assert (err.name, err.verify_code, err.library) == (name, verify_code, "rustls")  # type: ignore[attr-defined]
    assert err.reason and err.reason in str(err) and err.verify_message == err.reason  # type: ignore[attr-defined]
    assert pump.closed[client].error is not None and pump.closed[client].error.name == name  # type: ignore[attr-defined]
    # The server hears the client's alert.
    alert = failure(pump, conn)
    assert type(alert) is netcore.TLSError and alert.name == "ETLSALERT"  # type: ignore[attr-defined]
    assert alert.alert in (42, 45, 46, 48)  # type: ignore[attr-defined]
    assert pump.kinds(client).count("tls_failed") == 1 and "tls_ready" not in pump.kinds(client)


@pytest.mark.parametrize(
    ("server_cert", "kw", "peer_verified"),
    [("wrongname", {"check_hostname": False}, True),
     ("untrusted", {"check_hostname": False, "verify_mode": ssl.CERT_NONE}, False)],
    ids=["check_hostname=False", "CERT_NONE"],
)
def test_a_client_checks_less_with_check_hostname_false_or_cert_none_as_in_ssl(
    loop: netcore.Loop, certs: Path, server_cert: str, kw: dict[str, object], peer_verified: bool
) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs, server_cert))
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1], tls=client_ctx(certs, **kw),
                          server_hostname="localhost")
    pump.until(lambda: "tls_ready" in pump.kinds(client) or "tls_failed" in pump.kinds(client), what="handshake")
    assert "tls_ready" in pump.kinds(client), pump.kinds(client)
    info = loop.tls_info(client)
    assert info is not None and info["peer_verified"] is peer_verified


def test_an_alpn_mismatch_is_no_shared_protocol_and_alert_120(loop: netcore.Loop, certs: Path) -> None:
    pump, conn, client = handshake(loop, server_ctx(certs, alpn_protocols=["h2"]),
                                   client_ctx(certs, alpn_protocols=["echo"]))
    refused = failure(pump, conn)
    assert type(refused) is netcore.TLSError and refused.name == "ETLSNOSHARED"  # type: ignore[attr-defined]
    alerted = failure(pump, client)
    assert type(alerted) is netcore.TLSError and alerted.alert == 120  # type: ignore[attr-defined]


def test_a_missing_required_client_certificate_is_refused(loop: netcore.Loop, certs: Path) -> None:
    srv = server_ctx(certs, client_auth="required", cafile=certs / "ca.pem")
    pump, conn, client = handshake(loop, srv, client_ctx(certs))
    refused = failure(pump, conn)
    assert type(refused) is netcore.TLSCertificateError and refused.name == "ETLSBADCERT"  # type: ignore[attr-defined]
    # A TLS 1.3 client is done before the server decides: its session ends
    # with the server's alert 116 (certificate_required) as the close reason.
    kind = "tls_failed" if "tls_failed" in pump.kinds(client) else "closed"
    alerted = failure(pump, client, kind)
    assert type(alerted) is netcore.TLSError and alerted.alert == 116  # type: ignore[attr-defined]
    # With a certificate, the same server verifies it.
    cli = client_ctx(certs, certfile=certs / "client.pem", keyfile=certs / "client.key")
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=srv)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1], tls=cli, server_hostname="localhost")
    pump.until(lambda: len(pump.of_kind("tls_ready")) == 2, what="both handshakes")
    conn = pump.of_kind("accepted")[0].handle
    info = loop.tls_info(conn)
    assert info is not None and info["peer_verified"] and loop.peer_certificate(conn) == der(certs, "client")


def test_plaintext_to_a_tls_port_is_not_tls(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs))
    with socket.create_connection(("127.0.0.1", loop.local_address(listener)[1]), timeout=WAIT) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        pump.until(lambda: bool(pump.closed), what="the server's close")
    (conn,) = pump.closed
    err = failure(pump, conn)
    assert type(err) is netcore.TLSError and err.name == "ETLSNOTTLS"  # type: ignore[attr-defined]


def test_tls_to_a_plaintext_port_is_not_tls(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    pump.hooks.append(lambda ev: ev.kind == "accepted" and loop.send(ev.handle, b"220 plaintext here\r\n"))
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1], tls=client_ctx(certs))
    err = failure(pump, client)
    assert type(err) is netcore.TLSError and err.name == "ETLSNOTTLS"  # type: ignore[attr-defined]


def test_a_silent_peer_is_a_handshake_timeout_on_both_sides_and_the_connect_timeout_covers_it(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs, handshake_timeout=0.2))
    with socket.socket() as silent_server:
        silent_server.bind(("127.0.0.1", 0))
        silent_server.listen()
        client = loop.connect("127.0.0.1", silent_server.getsockname()[1],
                              tls=client_ctx(certs, handshake_timeout=0.2))
        # The connect timeout covers the handshake (here the shorter one).
        bounded = loop.connect("127.0.0.1", silent_server.getsockname()[1], timeout=0.2, tls=client_ctx(certs))
        with socket.create_connection(("127.0.0.1", loop.local_address(listener)[1]), timeout=WAIT):
            pump.until(lambda: len(pump.closed) == 3, what="the three handshakes' timeouts")
    for handle in pump.closed:
        err = failure(pump, handle)
        assert type(err) is netcore.TLSTimeoutError and isinstance(err, TimeoutError)
        assert err.name == "ETLSTIMEDOUT"  # type: ignore[attr-defined]
    assert client in pump.closed and bounded in pump.closed


def test_a_fin_without_close_notify_is_an_ssl_eof_error(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    def truncating_client() -> None:
        with socket.create_connection(("127.0.0.1", echo.port), timeout=WAIT) as raw:
            tls = ctx.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"ping")
            assert tls.recv(4) == b"ping"
            # SSLSocket.shutdown drops the TLS layer without close_notify.
            tls.shutdown(socket.SHUT_WR)
            assert tls.recv(1) == b""  # the server closed

    with background(pump):
        truncating_client()
    pump.until(lambda: bool(pump.closed), what="the server's close")
    (conn,) = pump.closed
    err = failure(pump, conn, "closed")
    assert type(err) is netcore.TLSEOFError and isinstance(err, ssl.SSLEOFError)
    assert err.name == "ETLSTRUNCATED"  # type: ignore[attr-defined]
    assert "eof" not in pump.kinds(conn)


def client_hello(certs: Path) -> bytes:
    """The first flight of Python's ssl client (a ClientHello), from memory."""
    obj = ssl.create_default_context(cafile=str(certs / "ca.pem")).wrap_bio(
        ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes (FIN, or RST: then what came
    before it); sock's timeout is the hang guard of each read."""
    got = b""
    for _ in range(10_000):
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    raise AssertionError(f"the peer kept sending: {len(got)} bytes")


@pytest.mark.parametrize("end", ["fin", "rst", "silence"])
def test_half_a_client_hello_then_fin_rst_or_silence_fails_the_handshake_once(loop: netcore.Loop, certs: Path,
                                                                              end: str) -> None:
    pump = Pump(loop)
    # A silent client is ended by the handshake timeout: a short one here.
    timeout = 0.2 if end == "silence" else netcore.DEFAULT_HANDSHAKE_TIMEOUT
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs, handshake_timeout=timeout))
    hello = client_hello(certs)
    with socket.create_connection(("127.0.0.1", loop.local_address(listener)[1]), timeout=WAIT) as s:
        pump.until(lambda: bool(pump.of_kind("accepted")), what="accepted")
        s.sendall(hello[: len(hello) // 2])
        if end == "fin":
            s.shutdown(socket.SHUT_WR)
        elif end == "rst":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        conn = pump.of_kind("accepted")[0].handle
        wait_closed(pump, conn)
        if end == "silence":
            read_to_end(s)  # the silent client sees the connection end
    assert pump.kinds(conn).count("tls_failed") == 1
    err = pump.first(conn, "tls_failed").error
    if end == "fin":
        assert type(failure(pump, conn)) is netcore.TLSEOFError
    elif end == "silence":
        timed_out = failure(pump, conn)
        assert type(timed_out) is netcore.TLSTimeoutError and timed_out.name == "ETLSTIMEDOUT"  # type: ignore[attr-defined]
    else:  # not a TLS failure: the OS's reset, as for any connection
        assert type(err) is netcore.ConnectionResetError and pump.closed[conn].error is not None
    pump.until(lambda: loop.handle_count() == 1, what="nothing left open but the listener")


def test_a_flipped_byte_in_a_record_is_a_protocol_error(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    obj = ssl.create_default_context(cafile=str(certs / "ca.pem")).wrap_bio(
        inc := ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="localhost")

    def forger() -> None:
        with socket.create_connection(("127.0.0.1", echo.port), timeout=WAIT) as s:
            for _ in range(100):  # bounded: a handshake is a few flights
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    s.sendall(out.read())
                    inc.write(s.recv(65536))
            s.sendall(out.read())  # the client's Finished
            obj.write(b"a record that will not decrypt")
            record = bytearray(out.read())
            record[len(record) // 2] ^= 0x01
            s.sendall(record)
            assert s.recv(65536)  # the server's alert
    with background(pump):
        forger()
    pump.until(lambda: bool(pump.closed), what="the server's close")
    (conn,) = pump.closed
    err = failure(pump, conn, "closed")
    assert type(err) is netcore.TLSError and err.name == "ETLSPROTOCOL"  # type: ignore[attr-defined]
    assert "tls_failed" not in pump.kinds(conn) and "data" not in pump.kinds(conn)  # its handshake had succeeded


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_a_tls_1_1_only_client_shares_no_version(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    refused: list[BaseException] = []

    def old_client() -> None:
        with socket.create_connection(("127.0.0.1", echo.port), timeout=WAIT) as raw:
            try:
                ctx.wrap_socket(raw, server_hostname="localhost")
            except ssl.SSLError as e:
                refused.append(e)
    with background(pump):
        old_client()
    pump.until(lambda: bool(pump.closed), what="the server's close")
    (conn,) = pump.closed
    err = failure(pump, conn)
    assert type(err) is netcore.TLSError and err.name == "ETLSNOSHARED"  # type: ignore[attr-defined]
    assert len(refused) == 1


def test_openssl_s_client_offering_another_alpn_protocol_shares_none(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs, alpn_protocols=["h2"]))
    port = loop.local_address(listener)[1]
    with background(pump):
        done = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", "-alpn", "echo/1")
    assert done.returncode != 0
    # By number: s_client's words for an alert differ between OpenSSL versions.
    assert b"SSL alert number 120" in done.stdout + done.stderr, done.stderr
    pump.until(lambda: bool(pump.closed), what="the server's close")
    (conn,) = pump.closed
    err = failure(pump, conn)
    assert type(err) is netcore.TLSError and err.name == "ETLSNOSHARED"  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", [1, 16383, 16384, 16385, 3 * MiB])
def test_every_byte_arrives_at_record_edges_and_above_the_high_water_mark(loop: netcore.Loop, certs: Path,
                                                                         size: int) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    payload = os.urandom(size)
    loop.send(client, payload)  # one message, larger than the high mark at 3 MiB: taken whole into an empty queue
    pump.until(lambda: len(pump.received[client]) >= size, what="the echo")
    assert pump.received[client] == payload


@contextmanager
def one_byte_proxy(target_port: int) -> Iterator[int]:
    """A TCP proxy on loopback that forwards each byte in a send of its own
    (TCP_NODELAY), both ways, and half-closes as its peers do; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        dst.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while chunk := src.recv(65536):
            for i in range(len(chunk)):
                dst.sendall(chunk[i : i + 1])
        dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        a, _ = listener.accept()
        with a, socket.create_connection(("127.0.0.1", target_port)) as b:
            back = threading.Thread(target=pipe, args=(b, a))
            back.start()
            pipe(a, b)
            back.join(WAIT)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(WAIT)
        listener.close()
        assert not thread.is_alive()


def test_every_byte_arrives_through_a_proxy_that_forwards_one_byte_at_a_time(loop: netcore.Loop,
                                                                            certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    payload = os.urandom(16385)  # two records each way
    with one_byte_proxy(echo.port) as port:
        client = loop.connect("127.0.0.1", port, tls=client_ctx(certs), server_hostname="localhost")
        loop.send(client, payload)
        pump.until(lambda: len(pump.received[client]) >= len(payload), what="the echo")
        loop.close(client)
        wait_closed(pump, client)
    assert pump.received[client] == payload
    assert pump.closed[client].error is None


def test_a_graceful_server_shutdown_ends_tls_connections_with_close_notify(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    loop.send(client, b"last words")
    pump.until(lambda: pump.received[client] == b"last words", what="the echo")
    loop.shutdown_server(echo.listener, WAIT)
    pump.until(lambda: "eof" in pump.kinds(client), what="the server's close_notify")
    loop.close(client)
    wait_closed(pump, client)
    assert pump.closed[client].error is None  # close_notify before the FIN: no TLSEOFError
    pump.until(lambda: bool(pump.of_kind("shutdown_complete")), what="shutdown_complete")


def test_starttls_refuses_plaintext_cut_into_the_same_batch(loop: netcore.Loop, certs: Path) -> None:
    listener = loop.listen("127.0.0.1", 0)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    srv = server_ctx(certs)
    seen: list[tuple[str, int, bytes | None, BaseException | None]] = []
    conn: list[int] = []

    def on_event(ev: netcore.Event) -> None:
        seen.append((ev.kind, ev.handle, ev.data, ev.error))
        if ev.kind == "accepted":
            conn.append(ev.handle)
            loop.frame_delimited(ev.handle, b"\n")
        elif ev.kind == "connected":
            loop.send(client, b"STARTTLS\nINJECTED\n")  # one write: one read at the server
        elif ev.kind == "data" and ev.data == b"STARTTLS":
            loop.start_tls(ev.handle, srv)
        elif ev.kind == "closed" and conn and ev.handle == conn[0]:
            loop.stop()

    stopper = loop.timer(WAIT)  # a hang guard: run() returns by then anyway
    loop.set_userdata(stopper, "guard")
    loop.run(lambda ev: loop.stop() if ev.kind == "timer" else on_event(ev))
    of_server = [(kind, data, type(err)) for kind, h, data, err in seen if conn and h == conn[0]]
    assert of_server == [("accepted", None, type(None)), ("data", b"STARTTLS", type(None)),
                         ("tls_failed", None, netcore.TLSError), ("closed", None, netcore.TLSError)]
    refused = [err for kind, h, _, err in seen if kind == "tls_failed"]
    assert refused[0].name == "ETLSPROTOCOL" and "upgrade point" in refused[0].reason  # type: ignore[union-attr]


# --- STARTTLS, rotation, flow control ------------------------------------


def test_starttls_upgrades_a_live_connection_between_netcore_ends(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    loop.frame_delimited(client, b"\n")
    srv, cli = server_ctx(certs), client_ctx(certs)

    def on_event(ev: netcore.Event) -> None:
        if ev.kind == "accepted":
            loop.frame_delimited(ev.handle, b"\n")
            loop.send(ev.handle, b"220 ready\n")
        elif ev.kind == "data" and ev.data == b"STARTTLS":
            loop.send(ev.handle, b"220 go ahead\n")  # plaintext: queued before the upgrade
            loop.start_tls(ev.handle, srv)
        elif ev.kind == "data" and ev.handle == client and ev.data == b"220 ready":
            loop.send(client, b"STARTTLS\n")
        elif ev.kind == "data" and ev.handle == client and ev.data == b"220 go ahead":
            loop.start_tls(client, cli, server_hostname="localhost")
            loop.send(client, b"secret\n")
        elif ev.kind == "data" and ev.data == b"secret":
            loop.send(ev.handle, b"got it\n")

    pump.hooks.append(on_event)
    pump.until(lambda: b"got it" in pump.received[client], what="the answer over TLS")
    conn = pump.of_kind("accepted")[0].handle
    assert pump.kinds(conn).count("tls_ready") == 1 and pump.kinds(client).count("tls_ready") == 1
    assert loop.tls_info(client) is not None and loop.tls_info(conn) is not None
    with pytest.raises(netcore.InvalidArgumentError):
        loop.start_tls(client, cli, server_hostname="localhost")  # already TLS
    with pytest.raises(netcore.InvalidArgumentError, match="server_hostname: required"):
        loop.start_tls(conn, cli)
    with pytest.raises(netcore.InvalidArgumentError, match="server_hostname: only with a client context"):
        loop.start_tls(conn, srv, server_hostname="localhost")
    with pytest.raises(TypeError, match="ssl.SSLContext"):
        loop.start_tls(conn, ssl.create_default_context())


def test_asyncio_streams_starttls_against_a_netcore_server(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    srv = server_ctx(certs)

    def on_event(ev: netcore.Event) -> None:
        if ev.kind == "data" and ev.data == b"STARTTLS\n":
            loop.send(ev.handle, b"220 go ahead\n")
            loop.start_tls(ev.handle, srv)
        elif ev.kind == "data" and ev.data is not None:
            loop.send(ev.handle, ev.data.upper())

    pump.hooks.append(on_event)
    close_on_eof(pump)

    async def client() -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", loop.local_address(listener)[1])
        writer.write(b"STARTTLS\n")
        greeting = await reader.readline()
        await writer.start_tls(ssl.create_default_context(cafile=str(certs / "ca.pem")), server_hostname="localhost")
        writer.write(b"quiet please\n")
        answer = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return greeting, answer

    with background(pump):
        assert asyncio.run(client()) == (b"220 go ahead\n", b"QUIET PLEASE\n")


def test_a_new_listener_context_applies_to_later_accepts_only(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    first = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    pump.until(lambda: "tls_ready" in pump.kinds(first), what="the first handshake")
    loop.set_listener_tls(echo.listener, server_ctx(certs, "untrusted"))
    second = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    assert type(failure(pump, second)) is netcore.TLSCertificateError
    loop.send(first, b"still here")
    pump.until(lambda: pump.received[first] == b"still here", what="the first connection's echo")
    loop.set_listener_tls(echo.listener, None)  # plaintext from now on
    with pytest.raises(netcore.InvalidArgumentError, match="context: expected a server context"):
        loop.set_listener_tls(echo.listener, client_ctx(certs))


def test_a_reconnecting_tls_client_gets_a_fresh_resumed_handshake(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost",
                          reconnect=[0.05])
    loop.send(client, b"one")
    # The echo comes after the server's session tickets: the client has them.
    pump.until(lambda: pump.received[client] == b"one", what="the first echo")
    first = loop.tls_info(client)
    assert first is not None and not first["session_reused"]
    (conn,) = echo.conns
    loop.close_reset(conn)
    pump.until(lambda: pump.kinds(client).count("tls_ready") == 2, what="the second handshake")
    assert "reconnecting" in pump.kinds(client) and "tls_failed" not in pump.kinds(client)
    second = loop.tls_info(client)
    assert second is not None and second["session_reused"]
    loop.send(client, b"two")
    pump.until(lambda: pump.received[client] == b"onetwo", what="the echo over the new session")


def test_backpressure_tokens_and_pause_resume_hold_under_tls(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    pump.until(lambda: "tls_ready" in pump.kinds(client), what="the handshake")
    (conn,) = echo.conns
    loop.pause(conn)
    loop.set_option(client, netcore.LOW_WATER, 16 * 1024)
    loop.set_option(client, netcore.HIGH_WATER, 64 * 1024)
    chunk = os.urandom(16 * 1024)
    sent = bytearray()
    for i in range(10_000):  # bounded: the queue fills long before
        try:
            loop.send(client, chunk, token=i)
        except BlockingIOError:
            break
        sent += chunk
    else:
        raise AssertionError("the send queue never filled")
    assert len(sent) >= 64 * 1024
    loop.resume(conn)  # the server echoes what it kept while paused
    pump.until(lambda: "writable" in pump.kinds(client), what="writable")
    pump.until(lambda: len(pump.received[client]) == len(sent), what="every byte back")
    assert pump.received[client] == sent
    tokens = [ev.value for ev in pump.by_handle[client] if ev.kind == "sent"]
    assert tokens == list(range(len(sent) // len(chunk)))


def test_the_connection_cap_holds_the_next_handshake_until_a_connection_closes(loop: netcore.Loop,
                                                                                 certs: Path) -> None:
    pump = Pump(loop)
    close_on_eof(pump)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs))
    loop.set_max_connections(listener, 1)
    port = loop.local_address(listener)[1]
    first = loop.connect("127.0.0.1", port, tls=client_ctx(certs), server_hostname="localhost")
    pump.until(lambda: "tls_ready" in pump.kinds(first), what="the first handshake")
    second = loop.connect("127.0.0.1", port, tls=client_ctx(certs), server_hostname="localhost")
    pump.until(lambda: "connected" in pump.kinds(second), what="the second connect (the kernel's backlog)")
    pump.settle(0.2)
    assert "tls_ready" not in pump.kinds(second) and "tls_failed" not in pump.kinds(second)
    (first_conn,) = [ev.handle for ev in pump.of_kind("accepted")]
    loop.close(first)
    pump.until(lambda: "tls_ready" in pump.kinds(second), what="the second handshake")
    # The first server connection closed cleanly before the second was accepted.
    assert pump.closed[first_conn].error is None
    server_side = [ev.kind for ev in pump.events if ev.kind in ("accepted", "closed") and ev.handle != first]
    assert server_side == ["accepted", "closed", "accepted"]


def test_a_hard_close_is_a_reset_without_close_notify(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    loop.send(client, b"ping")
    pump.until(lambda: pump.received[client] == b"ping", what="the echo")
    (conn,) = echo.conns
    loop.close_reset(client)
    wait_closed(pump, client, conn)
    assert pump.closed[client].error is None
    reset = pump.closed[conn].error
    assert type(reset) is netcore.ConnectionResetError and isinstance(reset, ConnectionResetError)
    # No close_notify: it would have been a clean EOF before the reset.
    assert "eof" not in pump.kinds(conn) and "tls_failed" not in pump.kinds(conn)


def test_a_half_close_sends_close_notify_and_the_answer_still_arrives(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs))
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1], tls=client_ctx(certs),
                          server_hostname="localhost")
    loop.send(client, b"question")
    loop.shutdown(client)  # close_notify, then FIN, after the question
    with pytest.raises(BrokenPipeError):
        loop.send(client, b"more")
    pump.until(lambda: bool(pump.of_kind("eof")), what="the server's EOF")
    (conn,) = [ev.handle for ev in pump.of_kind("accepted")]
    assert pump.of_kind("eof")[0].handle == conn and pump.received[conn] == b"question"
    assert not pump.closed
    loop.send(conn, b"answer")
    loop.close(conn)
    wait_closed(pump, client, conn)
    assert pump.closed[client].error is None and pump.closed[conn].error is None
    assert pump.received[client] == b"answer"
    assert pump.kinds(client).count("eof") == 1  # the server's close_notify and FIN


def test_the_water_marks_and_queued_bytes_count_the_tls_records_overhead(loop: netcore.Loop, certs: Path) -> None:
    """Queued before the handshake ends, each 1,000 B message is one TLS 1.3
    record of 1,022 B on the wire (5 B header, 1 B content type, 16 B tag):
    a high-water mark one byte short of three records refuses the third
    message (counting plaintext would admit it), one at three admits it."""
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    wire = 1000 + 22
    messages = [bytes([ord("a") + i]) * 1000 for i in range(3)]
    loop.set_option(client, netcore.LOW_WATER, 0)
    loop.set_option(client, netcore.HIGH_WATER, 3 * wire - 1)
    loop.send(client, messages[0])
    loop.send(client, messages[1])
    assert loop.queued_bytes(client) == 2 * wire
    with pytest.raises(BlockingIOError):
        loop.send(client, messages[2])
    loop.set_option(client, netcore.HIGH_WATER, 3 * wire)
    loop.send(client, messages[2])
    assert loop.queued_bytes(client) == 3 * wire
    pump.until(lambda: len(pump.received[client]) >= 3000, what="the echo")
    assert pump.received[client] == b"".join(messages)
    assert loop.queued_bytes(client) == 0


def tls_records(raw: bytes) -> list[tuple[int, int]]:
    """The whole TLS records at the start of `raw`: (content type, length)."""
    found = []
    while len(raw) >= 5 and len(raw) >= 5 + (length := int.from_bytes(raw[3:5], "big")):
        found.append((raw[0], length))
        raw = raw[5 + length:]
    return found


class WireClient:
    """A client of Python's ssl over a memory BIO and a plain socket to a
    netcore TLS server driven by `pump` in this thread: the test sees (and
    paces) the bytes on the wire."""

    def __init__(self, pump: Pump, port: int, certs: Path) -> None:
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.pump = pump
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.wire = bytearray()  # what the server sent, since the last records_until()
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.raw.setblocking(False)

    def close(self) -> None:
        self.raw.close()

    def send_raw(self, data: bytes) -> None:
        self.raw.setblocking(True)
        self.raw.sendall(data)
        self.raw.setblocking(False)

    def exchange(self) -> None:
        """Our pending bytes out, one poll of the loop, the server's bytes in."""
        if self.outgoing.pending:
            self.send_raw(self.outgoing.read())
        self.pump.step(0.005)
        try:
            chunk = self.raw.recv(65536)
        except BlockingIOError:
            return
        assert chunk, "EOF from the server"
        self.wire.extend(chunk)
        self.incoming.write(chunk)

    def handshake(self) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            assert time.monotonic() < deadline, "the handshake stalled"
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.exchange()
        self.exchange()  # our Finished

    def records_until(self, want: int) -> list[tuple[int, int]]:
        """Reads until `want` bytes of plaintext came; the records they came in."""
        plaintext = bytearray()
        deadline = time.monotonic() + WAIT
        while len(plaintext) < want:
            assert time.monotonic() < deadline, f"stalled at {len(plaintext)} of {want} bytes"
            try:
                plaintext += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.exchange()
        assert len(plaintext) == want
        found = tls_records(bytes(self.wire))
        self.wire.clear()
        return found


def test_a_gather_send_goes_in_one_tls_record_where_it_fits(loop: netcore.Loop, certs: Path) -> None:
    """sendv of 100 + 1,000 + 5,000 B comes as one record of 6,100 B plus
    TLS 1.3's 17 (content type, tag), as the wire shows; 3 x 10,000 B as
    full records."""
    application_data, overhead = 23, 1 + 16
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs))
    client = WireClient(pump, loop.local_address(listener)[1], certs)
    try:
        client.handshake()
        pump.until(lambda: bool(pump.of_kind("tls_ready")), what="the server's handshake")
        conn = pump.of_kind("tls_ready")[0].handle
        # What the server sends after its handshake (session tickets) comes first.
        loop.send(conn, b"ping")
        client.records_until(4)
        loop.sendv(conn, [b"a" * 100, b"b" * 1000, b"c" * 5000])
        assert client.records_until(6100) == [(application_data, 6100 + overhead)], "three buffers, one record"
        part = b"d" * 10_000
        loop.sendv(conn, [part, part, part])
        assert client.records_until(30_000) == [(application_data, 16_384 + overhead),
                                                (application_data, 13_616 + overhead)]
    finally:
        client.close()


def test_an_idle_tls_connection_gets_idle_and_stays_usable(loop: netcore.Loop, certs: Path) -> None:
    pump = Pump(loop)
    echo = tls_echo(pump, server_ctx(certs))
    client = loop.connect("127.0.0.1", echo.port, tls=client_ctx(certs), server_hostname="localhost")
    pump.until(lambda: "tls_ready" in pump.kinds(client), what="the handshake")
    loop.set_idle_timeout(client, 0.1)
    pump.until(lambda: "idle" in pump.kinds(client), what="idle")
    assert client not in pump.closed and "tls_failed" not in pump.kinds(client)
    loop.set_idle_timeout(client, None)
    loop.send(client, b"after idle")
    pump.until(lambda: pump.received[client] == b"after idle", what="the echo")


def test_handshake_traffic_keeps_a_tls_connection_from_going_idle(loop: netcore.Loop, certs: Path) -> None:
    """A client that trickles its ClientHello in six pieces half a second
    apart (3 s in all, never silent for a quarter of the 2 s idle timeout)
    gets its handshake and the server no "idle"; once silent, "idle" comes."""
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0, tls=server_ctx(certs))
    client = WireClient(pump, loop.local_address(listener)[1], certs)
    try:
        pump.until(lambda: bool(pump.of_kind("accepted")), what="accepted")
        conn = pump.of_kind("accepted")[0].handle
        idle = 2.0
        loop.set_idle_timeout(conn, idle)
        with pytest.raises(ssl.SSLWantReadError):
            client.tls.do_handshake()
        hello = client.outgoing.read()
        pieces = 6
        size = -(-len(hello) // pieces)
        for at in range(0, len(hello), size):
            client.send_raw(hello[at:at + size])
            pump.settle(idle / 4)
        client.handshake()
        pump.until(lambda: "tls_ready" in pump.kinds(conn), what="the server's handshake")
        assert "idle" not in pump.kinds(conn), f"handshake traffic counts: {pump.kinds(conn)}"
        pump.until(lambda: "idle" in pump.kinds(conn), what="idle once silent")
        assert conn not in pump.closed
    finally:
        client.close()

# --- the examples ----------------------------------------------------------


@contextmanager
def tls_example(certs: Path, name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A Python TLS server example serving the test certificate (named by
    NETCORE_TLS_CERT and NETCORE_TLS_KEY); yields (process, port) and kills
    it if still running at the end."""
    env = {"NETCORE_TLS_CERT": str(certs / "server.pem"), "NETCORE_TLS_KEY": str(certs / "server.key")}
    with mock.patch.dict(os.environ, env), server(py(name)) as (proc, _, port):
        yield proc, port


def test_the_tls_echo_server_and_client_examples(certs: Path) -> None:
    with tls_example(certs, "tls_echo_server.py") as (proc, port):
        out = subprocess.run([*py("tls_client.py"), f"localhost:{port}", str(certs / "ca.pem"), "hi there"],
                             capture_output=True, timeout=WAIT, env=run_env())
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-1] == b"hi there" and out.stdout.startswith(b"TLSv1.3 ")
        refused = subprocess.run([*py("tls_client.py"), f"localhost:{port}", str(certs / "other-ca.pem")],
                                 capture_output=True, timeout=WAIT, env=run_env())
        assert refused.returncode == 1 and b"not issued by a trusted authority" in refused.stderr
        assert stop(proc, signal.SIGTERM)[0] == 0
    missing = subprocess.run([*py("tls_echo_server.py"), "0"], capture_output=True, timeout=WAIT, env=run_env())
    assert missing.returncode == 1 and b"NETCORE_TLS_CERT" in missing.stderr


def test_the_https_server_example_answers_curl_and_ssl_with_alpn_and_close_notify(certs: Path) -> None:
    curl = [tool("curl"), "-sS", "--cacert", str(certs / "ca.pem")]
    with tls_example(certs, "https_server.py") as (proc, port):
        page = subprocess.run([*curl, f"https://localhost:{port}/"], capture_output=True, timeout=WAIT)
        assert page.returncode == 0, page.stderr
        assert page.stdout == b"hello from netcore over TLS\n"
        elsewhere = subprocess.run([*curl, "-o", os.devnull, "-w", "%{http_code}", f"https://localhost:{port}/nowhere"],
                                   capture_output=True, timeout=WAIT)
        assert elsewhere.returncode == 0 and elsewhere.stdout == b"404", elsewhere.stderr
        # Python's ssl: ALPN http/1.1, and the end of the answer is a
        # close_notify (without it, recv raises SSLEOFError).
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
            tls.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = read_to_end(tls)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") and answer.endswith(b"\r\n\r\nbad request\n")
        assert b"\r\nConnection: close\r\n" in answer
        assert stop(proc, signal.SIGTERM)[0] == 0


def test_the_starttls_server_example_upgrades_for_openssl_s_client_starttls_smtp(certs: Path) -> None:
    with tls_example(certs, "starttls_server.py") as (proc, port):
        args = ["s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                "-verify_return_error", "-brief", "-crlf", "-ign_eof", "-CAfile", str(certs / "ca.pem")]
        done = openssl(*args, stdin=b"EHLO netcore.test\nNOOP\nQUIT\n")
        assert done.returncode == 0, done.stderr
        assert b"Verification: OK" in done.stderr, done.stderr
        assert b"unexpected eof" not in done.stderr.lower(), "close_notify was missing"
        # Over TLS: EHLO without STARTTLS on offer, NOOP, QUIT.
        assert done.stdout == b"250 localhost greets you\r\n250 OK\r\n221 Bye\r\n"
        # Plaintext right behind STARTTLS, in the same segment (the injection
        # of CVE-2021-23222), is never answered: the connection is dropped.
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            greeting = s.recv(512)
            assert greeting.startswith(b"220 "), greeting
            s.sendall(b"STARTTLS\r\nEHLO injected\r\n")
            after = read_to_end(s)
        assert b"250" not in after, after
        assert stop(proc, signal.SIGTERM)[0] == 0


# --- netcore.aio: ssl= with a TLSContext ---------------------------------


async def streams_echo(server_ssl: object, client_ssl: object, payload: bytes) -> tuple[bytes, bytes]:
    """asyncio streams code as anyone writes it (nothing netcore in it): an
    echo server and a client over TLS; returns (the echo, the server's
    reading of the client's EOF)."""
    seen_eof = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        seen_eof.set_result(b"eof")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl, server_hostname="localhost")
        writer.write(payload)
        await writer.drain()
        echo = await reader.readexactly(len(payload))
        writer.close()
        await writer.wait_closed()
        return echo, await seen_eof


def test_unmodified_asyncio_streams_run_over_netcore_tls(netcore_policy: None, certs: Path) -> None:  # noqa: F811
    payload = os.urandom(MiB)
    srv, cli = server_ctx(certs), client_ctx(certs)

    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), netcore.aio.EventLoop)
        echo, eof = await streams_echo(srv, cli, payload)
        assert echo == payload and eof == b"eof"
        # netcore's TLS server, asyncio's own TLS client (the loop leaves an
        # ssl.SSLContext to asyncio), in the same loop.
        stdlib = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        echo, eof = await streams_echo(srv, stdlib, payload)
        assert echo == payload and eof == b"eof"

    asyncio.run(main())


def test_unmodified_asyncio_streams_starttls_runs_over_netcore_tls(netcore_policy: None, certs: Path) -> None:  # noqa: F811
    srv, cli = server_ctx(certs), client_ctx(certs)

    async def main() -> tuple[bytes, bytes, object, object]:
        # asyncio streams code (3.11's StreamWriter.start_tls), nothing netcore in it.
        upgraded = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"220 go ahead\n")
            await writer.start_tls(srv)
            upgraded.set_result(writer.get_extra_info("sslcontext"))
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
            writer.write(b"STARTTLS\n")
            greeting = await reader.readline()
            await writer.start_tls(cli, server_hostname="localhost")
            writer.write(b"quiet please\n")
            answer = await reader.readline()
            context = writer.get_extra_info("sslcontext")
            writer.close()
            await writer.wait_closed()
            return greeting, answer, context, await upgraded

    assert asyncio.run(main()) == (b"220 go ahead\n", b"QUIET PLEASE\n", cli, srv)


def test_netcore_aio_tls_failures_and_mistakes(certs: Path) -> None:
    async def main() -> None:
        srv, cli = server_ctx(certs), client_ctx(certs)
        contexts: list[object] = []
        good = await netcore.aio.start_server(lambda r, w: contexts.append(w.get_extra_info("sslcontext")),
                                              "127.0.0.1", 0, ssl=srv)
        _, writer = await netcore.aio.open_connection("127.0.0.1", good.sockets[0].getsockname()[1], ssl=cli)
        for _ in range(int(WAIT / 0.01)):  # bounded: the server's handshake ends after the client's
            if contexts:
                break
            await asyncio.sleep(0.01)
        assert writer.get_extra_info("sslcontext") is cli and contexts == [srv]  # how uvicorn tells https
        writer.close()
        good.close()
        server = await netcore.aio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                                ssl=server_ctx(certs, "untrusted"))
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            await netcore.aio.open_connection("127.0.0.1", port, ssl=client_ctx(certs), server_hostname="localhost")
        assert type(refused.value) is netcore.TLSCertificateError
        assert refused.value.name == "ETLSUNKNOWNCA"  # type: ignore[attr-defined]
        with pytest.raises(TypeError, match="not an ssl.SSLContext.*netcore.TLSContext"):
            await netcore.aio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context())
        with pytest.raises(TypeError, match="not an ssl.SSLContext"):
            await netcore.aio.start_server(lambda r, w: None, "127.0.0.1", 0, ssl=ssl.create_default_context())
        server.close()
        await server.wait_closed()

    asyncio.run(main())
