"""The Python examples, and interoperation with the C examples (the model is
the same on both sides of the wire)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import netcore
from conftest import C_EXAMPLES, EXAMPLES, WAIT, Pump, run_env


def read_line(proc: subprocess.Popen[bytes], timeout: float = WAIT, stderr: bool = False) -> bytes:
    """The next line of the process's stdout (or stderr); `timeout` is a hang guard."""
    stream = proc.stderr if stderr else proc.stdout
    assert stream is not None
    deadline = time.monotonic() + timeout
    line = b""
    fd = stream.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no line from {proc.args} within {timeout} s (got {line!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                raise AssertionError(f"{proc.args} exited early: {line!r}, rc={proc.poll()}")
            line += chunk
    return line


@contextmanager
def server(cmd: list[str], address: str = "0") -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """Starts a server example, yields (process, host, port) from its
    "listening on HOST:PORT" line, and kills it if still running at the end."""
    proc = subprocess.Popen([*cmd, address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run_env())
    try:
        line = read_line(proc).decode().strip()
        assert line.startswith("listening on "), line
        hostport = line.removeprefix("listening on ")
        host, _, port = hostport.rpartition(":")
        yield proc, host.strip("[]"), int(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def wait_joined(proc: subprocess.Popen[bytes], n: int) -> None:
    """Waits until a chat server (C or Python) logged n "NAME joined (K online)"
    lines on stderr: those clients are registered and get every broadcast."""
    joined = 0
    for _ in range(1000):  # bounded; each read_line has its own hang guard
        if joined == n:
            return
        if b" joined (" in read_line(proc, stderr=True):
            joined += 1
    raise AssertionError(f"{joined} of {n} joins logged")


def stop(proc: subprocess.Popen[bytes], sig: int) -> tuple[int, bytes]:
    proc.send_signal(sig)
    rc = proc.wait(15)
    assert proc.stdout is not None
    rest = proc.stdout.read()
    return rc, rest


def py(name: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name)]


def c_example(name: str) -> Path:
    path = C_EXAMPLES / name
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is missing: run `make examples` at the repository root to build the C examples")
    return path


def echo_over_socket(host: str, port: int, payload: bytes) -> bytes:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        got = bytearray()
        view = memoryview(payload)
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + 30
        while len(got) < len(payload):
            assert time.monotonic() < deadline, "echo timed out"
            want_write = [s] if sent < len(payload) else []
            r, w, _ = select.select([s], want_write, [], 1)
            if w:
                sent += s.send(view[sent : sent + 65536])
            if r:
                chunk = s.recv(1 << 20)
                assert chunk, "server closed early"
                got += chunk
        s.shutdown(socket.SHUT_WR)
        s.setblocking(True)
        assert s.recv(1) == b""  # the server closes after our EOF
        return bytes(got)


def udp_echoes(host: str, port: int, payloads: list[bytes]) -> list[bytes]:
    """Sends each datagram and waits for its echo (one at a time: loopback
    UDP does not drop them then), from one client socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        s.connect((host, port))
        got = []
        for payload in payloads:
            s.send(payload)
            got.append(s.recv(65536))
        return got


@pytest.mark.parametrize("which", ["python", "c"])
def test_udp_echo_examples(which: str) -> None:
    cmd = py("udp_echo.py") if which == "python" else [str(c_example("udp_echo"))]
    with server(cmd) as (proc, host, port):
        assert host == "127.0.0.1" and port > 0
        payloads = [b"", b"x", os.urandom(1200), os.urandom(65507)] + [os.urandom(i * 37) for i in range(1, 40)]
        assert udp_echoes(host, port, payloads) == payloads
        rc, _ = stop(proc, signal.SIGTERM)
        assert rc == 0


@pytest.mark.parametrize("example", ["echo_server.py", "asyncio_echo_server.py", "streams_echo_server.py"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_python_echo_servers(example: str, sig: int) -> None:
    with server(py(example)) as (proc, host, port):
        assert host == "127.0.0.1" and port > 0
        payload = os.urandom(3 * 1024 * 1024)
        assert echo_over_socket(host, port, payload) == payload
        # a client still connected at shutdown is closed gracefully
        idle = socket.create_connection((host, port), timeout=WAIT)
        idle.sendall(b"?")  # its echo proves the server accepted it
        assert idle.recv(1) == b"?"
        proc.send_signal(sig)
        assert idle.recv(1) == b""  # FIN, not a reset
        idle.close()
        rc = proc.wait(15)
        assert proc.stdout is not None
        rest = proc.stdout.read()
        assert rc == 0
        assert rest == b"", "exactly one line on stdout"


def test_echo_server_explicit_host_and_ipv6() -> None:
    with server(py("echo_server.py"), "127.0.0.1:0") as (proc, host, port):
        assert echo_over_socket(host, port, b"x") == b"x"
        assert stop(proc, signal.SIGTERM)[0] == 0
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        return
    with server(py("echo_server.py"), "[::1]:0") as (proc, host, port):
        assert host == "::1"
        assert echo_over_socket(host, port, b"six") == b"six"
        assert stop(proc, signal.SIGINT)[0] == 0


def test_echo_server_bad_arguments() -> None:
    for args in (["70000"], ["nope:1"], ["::1:80"], []):
        rc = subprocess.run([*py("echo_server.py"), *args], capture_output=True, timeout=30, env=run_env()).returncode
        assert rc != 0


def test_python_echo_client_against_python_server() -> None:
    with server(py("echo_server.py")) as (proc, host, port):
        out = subprocess.run(
            [*py("echo_client.py"), f"{host}:{port}", "hello", "big world"],
            capture_output=True,
            timeout=30,
            env=run_env(),
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"hello\nbig world\n"
        out = subprocess.run(
            [*py("echo_client.py"), f"{host}:{port}"], input=b"from\nstdin\n", capture_output=True, timeout=30, env=run_env()
        )
        assert out.stdout == b"from\nstdin\n"
        assert stop(proc, signal.SIGINT)[0] == 0


def test_echo_client_connect_refused() -> None:
    from conftest import free_port

    out = subprocess.run(
        [*py("echo_client.py"), f"127.0.0.1:{free_port()}", "x"], capture_output=True, timeout=30, env=run_env()
    )
    assert out.returncode == 1
    assert b"refused" in out.stderr


def chat_clients(proc: subprocess.Popen[bytes], host: str, port: int, n: int) -> list[socket.socket]:
    clients = [socket.create_connection((host, port), timeout=WAIT) for _ in range(n)]
    wait_joined(proc, n)
    return clients


def test_python_chat_server() -> None:
    with server(py("chat_server.py")) as (proc, host, port):
        a, b, c = chat_clients(proc, host, port, 3)
        try:
            a.sendall(b"hello room\n")
            name = "%s:%d" % a.getsockname()[:2]
            for other in (b, c):
                assert other.recv(4096) == f"{name}: hello room\n".encode()
            b.sendall(b"one\ntwo\n")
            bname = "%s:%d" % b.getsockname()[:2]
            want = f"{bname}: one\n{bname}: two\n".encode()
            got = b""
            while len(got) < len(want):
                got += a.recv(4096)
            assert got == want
        finally:
            for s in (a, b, c):
                s.close()
        rc, rest = stop(proc, signal.SIGTERM)
        assert rc == 0 and rest == b""


def test_python_client_against_c_echo_server() -> None:
    binary = c_example("echo_server")
    with server([str(binary)]) as (proc, host, port):
        with netcore.Loop() as lp:
            pump = Pump(lp)
            conns = [lp.connect(host, port) for _ in range(10)]
            payloads = {h: os.urandom(100_000 + i) for i, h in enumerate(conns)}
            for h, data in payloads.items():
                lp.send(h, data)
            pump.until(lambda: all(len(pump.received[h]) >= len(d) for h, d in payloads.items()), timeout=30)
            for h, data in payloads.items():
                assert bytes(pump.received[h]) == data
                lp.close(h)
            pump.until(lambda: all(h in pump.closed for h in conns))
        assert stop(proc, signal.SIGINT)[0] == 0


def test_c_echo_client_against_python_echo_server() -> None:
    binary = c_example("echo_client")
    with server(py("echo_server.py")) as (proc, host, port):
        out = subprocess.run([str(binary), f"{host}:{port}", "from C", "to Python"], capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"from C\nto Python\n"
        assert stop(proc, signal.SIGTERM)[0] == 0


def test_python_client_against_c_chat_server() -> None:
    binary = c_example("chat_server")
    with server([str(binary)]) as (proc, host, port):
        with netcore.Loop() as lp:
            pump = Pump(lp)
            alice, bob = lp.connect(host, port), lp.connect(host, port)
            for h in (alice, bob):
                lp.frame_delimited(h, b"\n", 65536)
            pump.until(lambda: "connected" in pump.kinds(alice) and "connected" in pump.kinds(bob))
            wait_joined(proc, 2)
            lp.send(alice, b"hi from python\n")
            pump.until(lambda: any(e.kind == "data" for e in pump.by_handle[bob]))
            line = pump.first(bob, "data").data
            name = "%s:%d" % lp.local_address(alice)
            assert line == f"{name}: hi from python".encode()
        assert stop(proc, signal.SIGINT)[0] == 0


@pytest.mark.parametrize("which", ["python", "c"])
def test_chat_client_example(which: str) -> None:
    cmd = py("chat_server.py") if which == "python" else [str(c_example("chat_server"))]
    with server(cmd) as (proc, host, port):
        with socket.create_connection((host, port), timeout=WAIT) as listener:
            wait_joined(proc, 1)
            out = subprocess.run(
                [*py("chat_client.py"), f"{host}:{port}", "--linger", "0.3", "--pause", "0", "one", "two"],
                capture_output=True,
                timeout=30,
                env=run_env(),
            )
            assert out.returncode == 0, out.stderr
            got = b""
            while got.count(b"\n") < 2:
                chunk = listener.recv(4096)
                assert chunk
                got += chunk
            lines = got.decode().splitlines()
            assert [line.split(": ", 1)[1] for line in lines] == ["one", "two"]
            listener.sendall(b"answer\n")
        assert stop(proc, signal.SIGTERM)[0] == 0


def unix_echo(path: str, payload: bytes) -> bytes:
    """Sends `payload` over a Unix stream socket, half-closes, returns all
    that came back before the server closed (timeouts are hang guards)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        for _ in range(100_000):  # bounded; each recv has the timeout
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return bytes(got)


def test_c_unix_echo_server_on_a_path_removes_its_file(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    proc = subprocess.Popen([c_example("unix_echo_server"), path], stdout=subprocess.PIPE, env=run_env())
    try:
        assert read_line(proc).decode().strip() == f"listening on {path}"
        payload = bytes(range(256)) * 256
        assert unix_echo(path, payload) == payload
        assert unix_echo(path, b"again") == b"again"
        assert os.path.exists(path)
        assert stop(proc, signal.SIGTERM)[0] == 0
        assert not os.path.exists(path), "the socket file goes with the listener"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_c_unix_echo_server_in_the_abstract_namespace() -> None:
    name = f"@netcore-example-{os.getpid()}"
    proc = subprocess.Popen([c_example("unix_echo_server"), name], stdout=subprocess.PIPE, env=run_env())
    try:
        assert read_line(proc).decode().strip() == f"listening on {name}"
        assert unix_echo("\0" + name[1:], b"abstract") == b"abstract"
        assert stop(proc, signal.SIGTERM)[0] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("how", ["fd", "systemd"])
def test_c_adopt_echo_server_serves_an_inherited_listener(how: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        fd = listener.fileno()
        prog = str(c_example("adopt_echo_server"))
        if how == "fd":
            cmd = [prog, str(fd)]
        else:  # socket activation: the socket on descriptor 3, LISTEN_PID the server's own
            cmd = ["bash", "-c", f'exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" systemd', prog]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, pass_fds=(fd,), env=run_env())
        try:
            assert read_line(proc).decode().startswith("listening on fd ")
            listener.close()  # the server holds its own copy now
            payload = b"adopted " * 1000
            assert echo_over_socket("127.0.0.1", port, payload) == payload
            assert stop(proc, signal.SIGTERM)[0] == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_c_adopt_echo_server_refuses_a_descriptor_that_is_not_a_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        fd = udp.fileno()
        cmd = [str(c_example("adopt_echo_server")), str(fd)]
        done = subprocess.run(cmd, capture_output=True, pass_fds=(fd,), env=run_env(), timeout=30)
        assert done.returncode == 1
        assert b"EINVAL" in done.stderr and b"fd" in done.stderr, done.stderr


# ---- other programs talk to the Unix-socket and adopted-socket examples ------


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: bindings/python/test.sh installs it when run as root, "
                    f"else apt-get install {name}")
    return path


def socat_echo(address: str, payload: bytes) -> bytes:
    """socat between its stdin/stdout and `address`: it sends `payload`,
    half-closes at the end of its input and exits once the server closed."""
    done = subprocess.run([tool("socat"), "-t", str(WAIT), "-", address], input=payload, capture_output=True,
                          timeout=WAIT * 2)
    assert done.returncode == 0, done.stderr
    return done.stdout


def curl_request_echoed(*args: str) -> bytes:
    """curl's HTTP request as an echo server sends it back: curl takes the
    answer for an HTTP/0.9 body and prints it. The server keeps the
    connection open (curl never half-closes), so curl is stopped once the
    whole request head is back."""
    proc = subprocess.Popen([tool("curl"), "-sS", "-N", "--http0.9", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        got = b""
        deadline = time.monotonic() + WAIT
        while not got.endswith(b"\r\n\r\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"curl printed {got!r} within {WAIT} s"
            if select.select([proc.stdout], [], [], left)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"curl exited ({proc.wait(10)}): {proc.stderr.read() if proc.stderr else b''!r}"
                got += chunk
        return got
    finally:
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_socat_and_curl_talk_to_the_c_unix_echo_server(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    name = f"@netcore-socat-{os.getpid()}"
    payload = os.urandom(256 * 1024)
    for where, socat_address in ((path, f"UNIX-CONNECT:{path}"), (name, f"ABSTRACT-CONNECT:{name[1:]}")):
        proc = subprocess.Popen([c_example("unix_echo_server"), where], stdout=subprocess.PIPE, env=run_env())
        try:
            assert read_line(proc).decode().strip() == f"listening on {where}"
            assert socat_echo(socat_address, payload) == payload
            if where == path:  # curl reaches a socket file only
                echoed = curl_request_echoed("--unix-socket", path, "http://localhost/over-unix")
                assert echoed.startswith(b"GET /over-unix HTTP/1.1\r\nHost: localhost\r\n"), echoed
                assert b"\r\nUser-Agent: curl/" in echoed
            assert stop(proc, signal.SIGTERM)[0] == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def test_socat_and_curl_talk_to_the_c_adopt_echo_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        fd = listener.fileno()
        proc = subprocess.Popen([c_example("adopt_echo_server"), str(fd)], stdout=subprocess.PIPE, pass_fds=(fd,),
                                env=run_env())
        try:
            assert read_line(proc).decode().strip() == f"listening on fd {fd}"
            listener.close()  # the server holds its own copy now
            payload = os.urandom(256 * 1024)
            assert socat_echo(f"TCP:127.0.0.1:{port}", payload) == payload
            echoed = curl_request_echoed(f"http://127.0.0.1:{port}/adopted")
            assert echoed.startswith(b"GET /adopted HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port), echoed
            assert stop(proc, signal.SIGTERM)[0] == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


# ---- one loop per core ------------------------------------------------------------


def multicore(example: str) -> list[str]:
    return [str(c_example("multicore_echo_server"))] if example == "C" else py("multicore_echo_server.py")


def worker_counts(stderr: bytes) -> list[int]:
    """The "worker N: K connections" lines, as [K for N = 0, 1, ...]."""
    lines = [line for line in stderr.decode().splitlines() if ": worker " in line]
    counts = dict(line.split(": worker ", 1)[1].removesuffix(" connections").split(": ") for line in lines)
    return [int(counts[str(n)]) for n in range(len(counts))]


def echo_on(s: socket.socket, payload: bytes) -> bytes:
    """Sends payload on a connected socket and reads as many bytes back."""
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        assert chunk, "closed before the echo"
        got += chunk
    return got


def echo_once(host: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=WAIT) as s:
        return echo_on(s, payload)


def stop_workers(proc: subprocess.Popen[bytes]) -> tuple[int, list[int]]:
    """SIGTERM; the exit status and the workers' counts."""
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(15)
    assert proc.stderr is not None
    return rc, worker_counts(proc.stderr.read())


@pytest.mark.parametrize("example", ["C", "Python"])
def test_multicore_echo_server_two_workers_share_one_listener(example: str) -> None:
    # Each worker keeps at most one connection (-c 1): two connections open
    # at once are served by two different workers, whichever accepts first.
    with server([*multicore(example), "-w", "2", "-m", "shared", "-c", "1"], "127.0.0.1:0") as (proc, host, port):
        first = socket.create_connection((host, port), timeout=WAIT)
        second = socket.create_connection((host, port), timeout=WAIT)
        with first, second:
            assert echo_on(first, b"first") == b"first"
            assert echo_on(second, b"second") == b"second"
        for n in range(6):
            assert echo_once(host, port, b"later %d" % n) == b"later %d" % n
        rc, counts = stop_workers(proc)
        assert rc == 0
        assert len(counts) == 2 and min(counts) >= 1 and sum(counts) == 8, counts


@pytest.mark.parametrize("example", ["C", "Python"])
def test_multicore_echo_server_two_workers_reuse_one_port(example: str) -> None:
    # SO_REUSEPORT: each worker listens on the port; the kernel picks one
    # per connection (by a hash: which one is not asserted). Every
    # connection is echoed, and the workers' counts add up.
    with server([*multicore(example), "-w", "2", "-m", "reuseport"], "127.0.0.1:0") as (proc, host, port):
        for n in range(8):
            payload = bytes(range(256)) * (n + 1)
            assert echo_once(host, port, payload) == payload
        rc, counts = stop_workers(proc)
        assert rc == 0
        assert len(counts) == 2 and sum(counts) == 8, counts
