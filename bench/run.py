#!/usr/bin/env python3
"""netcore's benchmark suite: the one command (`make bench`).

Builds netcore (make all), the load generator (bench/loadgen) and the anchor
servers (bench/anchors), sets up what the Python and Node servers need, then
runs every comparison with every available echo server in turn:

  1. echo throughput and p50/p99 latency, ping-pong, 50 connections,
     64 B / 512 B / 16 KiB messages
  2. user-space instructions per echoed message under callgrind
     (8 connections x 512 B, baseline run with ~no traffic subtracted)
  3. server CPU seconds per million messages (the 512 B echo runs)
  4. memory per idle connection (server RSS growth, 8,000 connections, after
     a warm-up echo on 8 connections)
  5. single-connection bulk throughput
  6. accept + close churn (connections per second), from many loopback
     source addresses so the client's TIME_WAIT does not limit it
  7. TLS (issue 12): netcore's TLS echo servers against an OpenSSL C server,
     Node `tls`, asyncio and uvloop with ssl=: instructions per 512 B echo,
     echo throughput at each size, bulk, full and resumed handshakes per
     second, memory per idle TLS connection; TLS 1.3 with one cipher suite
     and group chosen by the load generator, the test certificate
     (ECDSA P-256) made at bench time by tests/tls/make-certs.sh
  8. HTTP (issue 13, bench/http_bench.py): uvicorn (httptools and h11) on
     netcore.aio's loop, uvloop and asyncio; Node's http.createServer() on
     netcore's net sockets and on its own; driven by wrk
  9. tail latency at fixed load (issue 14): open-loop p50/p90/p99/p99.9 at
     50 % and 80 % of the slowest server's peak (bench/latency_bench.py)
 10. many connections (issue 14): 15,000 open, 1 % active: messages/s, p99,
     server RSS (bench/latency_bench.py)
 11. UDP (issue 14): datagram echo at 64 B and 1,200 B with many datagrams in
     flight against libuv (UV_UDP_RECVMMSG), asyncio, uvloop and Node dgram:
     datagrams/s, instructions and CPU per datagram, loss (bench/udp_bench.py)

Writes bench/RESULTS.md and bench/chart.png (the raw numbers go to
build/bench/results.json). Servers that cannot run here (a binding not built
yet) are reported as "not available". Exit status: 0 when every run was
clean, 1 when any error was seen (a byte mismatch, a server that crashed or
did not exit 0 on SIGINT, ...), 2 when the build failed.

  bench/run.py            full suite (about 75 minutes on 2 cores: ~20 for
                          comparisons 1-6, ~20 the TLS table, ~6 HTTP, ~12
                          tail latency and many connections, ~15 UDP (5
                          rounds, callgrind of every server); time budgets cap
                          comparisons 1-6 at 40 minutes, TLS at 35, latency
                          and many connections at 25)
  bench/run.py --smoke    seconds-long run of every code path (C servers
                          plus whatever is available; TLS through the C
                          servers only; writes its report under
                          build/bench/smoke/, not bench/)
  bench/run.py --only tls the TLS table alone (report under build/bench/partial/)
  bench/run.py --only http the HTTP table alone (idem; also echo, bulk,
                          churn, idle, callgrind, latency, many)

Every server follows one contract: `SERVER [HOST:]PORT` prints one line
`listening on HOST:PORT` once it accepts connections, echoes raw bytes and
exits 0 on SIGINT/SIGTERM. Servers are started on 127.0.0.1:0 and always
killed at the end, also on errors. The TLS servers also read their
certificate chain and key from the PEM files named by NETCORE_TLS_CERT and
NETCORE_TLS_KEY.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import datetime
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import http_bench
import latency_bench
import udp_bench

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BUILD = ROOT / "build" / "bench"
LOADGEN = ROOT / "target" / "release" / "loadgen"
VENV = ROOT / "build" / "venv-bench"
VENV_PY = VENV / "bin" / "python"

# ---- run lengths -------------------------------------------------------------

FULL = dict(
    # Medians of 7 rounds: the shared machine's noise is bimodal (whole runs
    # of every server drop to about half speed), and 5 rounds let one unlucky
    # round decide a verdict.
    runs=7,
    echo_sizes=[64, 512, 16384],
    echo_conns=50,
    echo_duration=3.0,
    echo_warmup=0.3,
    # The layers' echo comparisons (LAYERS) run at least this many rounds: the
    # layer and its peers are close, and one round on a shared machine moves
    # by up to 30 %, so three rounds let one unlucky round decide the verdict.
    layer_min_rounds=5,
    cg_conns=8,
    cg_size=512,
    cg_per_conn=5000,
    cg_runs=3,
    idle_conns=8000,
    idle_size=16,
    bulk_size=256 * 1024,
    bulk_window=4 << 20,
    bulk_duration=3.0,
    churn_workers=4,
    churn_duration=3.0,
    callgrind_all=True,
    budget_s=40 * 60,
    # TLS: fewer rounds (every connection is a handshake, and 8,000 idle TLS
    # connections take seconds to open on the interpreters), one callgrind
    # run of fewer echoes (the interpreters under valgrind are slow).
    tls_runs=3,
    tls_echo_sizes=[64, 512, 16384],
    tls_idle_runs=1,
    tls_cg_per_conn=2000,
    tls_cg_runs=1,
    tls_budget_s=35 * 60,
)
SMOKE = dict(
    FULL,
    runs=1,
    layer_min_rounds=1,
    echo_duration=0.25,
    echo_warmup=0.05,
    cg_per_conn=20,
    cg_runs=1,
    idle_conns=200,
    bulk_duration=0.25,
    churn_duration=0.25,
    callgrind_all=False,  # C servers only: the interpreters start slowly under valgrind
    budget_s=10 * 60,
    # TLS in the smoke run: 512 B echo and handshakes through the C servers.
    tls_runs=1,
    tls_echo_sizes=[512],
    tls_budget_s=2 * 60,
)

# The language peers netcore is compared with, and the issue's targets.
PEERS = {
    "netcore-c": ["libuv"],
    "netcore-py": ["uvloop", "asyncio"],
    "netcore-py-aio": ["uvloop", "asyncio"],
    "netcore-node": ["node-net"],
    "netcore-node-net": ["node-net"],
}
# The layers users already know (issue 13), whose echo must be >= their peers'.
LAYERS = ["netcore-py-aio", "netcore-node-net"]
# (netcore server, peer, max ratio of instructions/echo, max ratio of idle bytes or None)
TARGETS = [
    ("netcore-c", "libuv", 0.5, None),
    ("netcore-py", "uvloop", 0.8, 0.5),
    ("netcore-node", "node-net", 0.5, 0.5),
]
# Issue 14's absolute goals: (server, table, key, at most, what is measured).
LIMITS = [
    ("netcore-c", "callgrind", "per_echo", 450, "instructions/echo"),
    ("netcore-py", "callgrind", "per_echo", 1850, "instructions/echo"),
    ("netcore-node", "callgrind", "per_echo", 4500, "instructions/echo"),
    ("netcore-c", "idle", "bytes_per_conn", 160, "memory per idle connection (B)"),
    ("netcore-node", "idle", "bytes_per_conn", 1000, "memory per idle connection (B)"),
]
# TLS (issue 12): the peers in each language and the targets, as above.
TLS_PEERS = {
    "netcore-c-tls": ["openssl"],
    "netcore-py-tls": ["uvloop-tls", "asyncio-tls"],
    "netcore-node-tls": ["node-tls"],
    "netcore-node-net-tls": ["node-tls"],
}
TLS_TARGETS = [
    ("netcore-c-tls", "openssl", 1.0, None),
    ("netcore-py-tls", "uvloop-tls", 0.8, 1.0),
    ("netcore-node-tls", "node-tls", 0.5, 0.5),
]
TLS_CERTS = BUILD / "tls-certs"
# The load generator's TLS options: trust the test CA, offer one group.
TLS_CLIENT = ["--tls", TLS_CERTS / "ca.pem", "--tls-group", "x25519"]
# The issue's reference figures for simple anchors (512 B, 8 connections).
REFERENCE = {
    "libuv": (1230, 270),
    "uvloop": (3700, 1390),
    "asyncio": (15500, 1730),
    "node-net": (18000, 4550),
}

# ---- logging, errors, processes -----------------------------------------------

T0 = time.monotonic()
ERRORS: list[str] = []
LIVE: dict[int, subprocess.Popen] = {}


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def error(msg: str) -> None:
    ERRORS.append(msg)
    log(f"ERROR: {msg}")


def spawn(argv, **kw) -> subprocess.Popen:
    p = subprocess.Popen([str(a) for a in argv], **kw)
    LIVE[p.pid] = p
    return p


def reap(p: subprocess.Popen, sig=signal.SIGINT, timeout: float = 10.0) -> int:
    """Stops a process we started: `sig`, then SIGKILL after `timeout`."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    LIVE.pop(p.pid, None)
    return p.returncode


def kill_all() -> None:
    for p in list(LIVE.values()):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        LIVE.pop(p.pid, None)


def on_term(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def sh(argv, timeout: float, cwd=ROOT, env=None, check=True, quiet=False) -> subprocess.CompletedProcess:
    """Runs a command to completion (bounded); output captured."""
    argv = [str(a) for a in argv]
    if not quiet:
        log("$ " + " ".join(argv))
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(argv)}: timed out after {timeout:.0f}s") from e
    except OSError as e:
        raise RuntimeError(f"{' '.join(argv)}: {e}") from e
    if check and r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}\n" + "\n".join(tail))
    return r


def first_line(argv, timeout: float = 30, **kw) -> str:
    try:
        r = sh(argv, timeout, check=False, quiet=True, **kw)
        out = (r.stdout or r.stderr).strip()
        return out.splitlines()[0] if out else "?"
    except RuntimeError:
        return "?"


# ---- machine -----------------------------------------------------------------


class Machine:
    def __init__(self) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        self.nproc = os.cpu_count() or 1
        self.cpus = cpus
        self.taskset = shutil.which("taskset")
        self.pinned = len(cpus) >= 2 and self.taskset is not None
        self.server_cpu = cpus[0]
        self.client_cpu = cpus[1] if len(cpus) >= 2 else cpus[0]
        model = "?"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        self.cpu_model = model
        mem = "?"
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        except OSError:
            pass
        self.memory = mem
        self.kernel = platform.release()
        self.loadavg = os.getloadavg()

    def pin(self, cpu: int) -> list[str]:
        return [self.taskset, "-c", str(cpu)] if self.pinned else []


M: Machine


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- set up ------------------------------------------------------------------


def mpl_python() -> str | None:
    """An interpreter that has matplotlib (this one, or Debian's)."""
    for py in [sys.executable, "/usr/bin/python3", shutil.which("python3")]:
        if py and Path(py).exists():
            r = subprocess.run([py, "-c", "import matplotlib"], capture_output=True, timeout=60)
            if r.returncode == 0:
                return py
    return None


def ensure_apt() -> None:
    want = []
    if not Path("/usr/include/uv.h").exists():
        want.append("libuv1-dev")
    if not shutil.which("valgrind"):
        want.append("valgrind")
    if mpl_python() is None:
        want.append("python3-matplotlib")
    if not shutil.which("pkg-config"):
        want.append("pkg-config")
    if not Path("/usr/include/openssl/ssl.h").exists():
        want.append("libssl-dev")  # the OpenSSL anchor of the TLS table
    if not shutil.which("openssl"):
        want.append("openssl")  # tests/tls/make-certs.sh
    want += http_bench.apt_missing()  # wrk
    if not want:
        log("apt: libuv1-dev, libssl-dev, openssl, valgrind, matplotlib, wrk present")
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log(f"apt: missing {want}, but cannot apt-get here (not root or no apt-get)")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        sh(["apt-get", "update", "-q"], 600, env=env)
        sh(["apt-get", "install", "-y", "-q", "--no-install-recommends", *want], 900, env=env)
    except RuntimeError as e:
        log(f"apt: could not install {want}: {e}")


def build(smoke: bool) -> None:
    sh(["make", "all"], 1800)
    sh(["cargo", "build", "--release", "-p", "loadgen"], 900)
    BUILD.mkdir(parents=True, exist_ok=True)


class Server:
    """One echo server of the comparison."""

    def __init__(self, name, lang, role, argv, what, cg_ok=True, env=None, client_args=()):
        self.name = name
        self.lang = lang
        self.role = role  # "netcore" or "anchor"
        self.argv = [str(a) for a in argv]
        self.what = what
        self.available = True
        self.why = ""
        self.version = ""
        self.cg_ok = cg_ok
        self.env = env or {}  # added to the server's environment
        self.client_args = [str(a) for a in client_args]  # the load generator's options for it (TLS)

    def unavailable(self, why: str) -> None:
        self.available = False
        self.why = why
        log(f"{self.name}: not available: {why}")


def setup_servers(smoke: bool, wanted: set[str] | None = None) -> list[Server]:
    node = shutil.which("node")
    ex_py = ROOT / "examples" / "python" / "echo_server.py"
    ex_node = ROOT / "examples" / "node" / "echo_server.js"

    # Python: one interpreter (a venv under build/) for asyncio, uvloop and
    # netcore's binding, so the three differ only in the event loop.
    if not VENV_PY.exists() and not smoke:
        try:
            sh([shutil.which("python3") or sys.executable, "-m", "venv", VENV], 300)
        except RuntimeError as e:
            log(f"venv: {e}")
    py = str(VENV_PY) if VENV_PY.exists() else (shutil.which("python3") or sys.executable)
    if VENV_PY.exists() and not smoke:
        try:
            if sh([py, "-c", "import uvloop"], 60, check=False, quiet=True).returncode != 0:
                sh([py, "-m", "pip", "install", "-q", "uvloop"], 600)
        except RuntimeError as e:
            log(f"uvloop: {e}")
    netcore_py = py
    rebuild_py = not smoke and (wanted is None or any(n.startswith(("netcore-py", "netcore-aio")) for n in wanted))
    if rebuild_py and (ROOT / "bindings" / "python" / "pyproject.toml").exists() and VENV_PY.exists():
        # Always reinstall: measure the binding as it is in this tree.
        try:
            sh([py, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", ROOT / "bindings" / "python"], 1800)
        except RuntimeError as e:
            log(f"netcore Python binding: {e}")
    if sh([py, "-c", "import netcore"], 60, check=False, quiet=True).returncode != 0:
        other = ROOT / "build" / "venv-python" / "bin" / "python"
        if other.exists() and sh([other, "-c", "import netcore"], 60, check=False, quiet=True).returncode == 0:
            netcore_py = str(other)

    # Node: always rebuild the addon (not in smoke), as the Python binding above: an addon
    # that merely loads may be an old build, and its figures would not be this tree's.
    node_dir = ROOT / "bindings" / "node"
    rebuild_node = not smoke and (wanted is None or any(n.startswith("netcore-node") for n in wanted))
    if node and ex_node.exists() and (node_dir / "package.json").exists() and rebuild_node:
        try:
            if node_modules_stale(node_dir):
                sh(["npm", "ci"], 1200, cwd=node_dir)
            sh(["npm", "run", "build"], 1800, cwd=node_dir)
        except RuntimeError as e:
            log(f"netcore Node binding: {e}")

    # The libuv anchor.
    libuv_bin = BUILD / "libuv_echo"
    libuv_err = ""
    try:
        BUILD.mkdir(parents=True, exist_ok=True)
        sh([os.environ.get("CC", "cc"), "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Wextra", "-Werror",
            BENCH / "anchors" / "libuv_echo.c", "-o", libuv_bin, "-luv"], 300)
    except RuntimeError as e:
        libuv_err = str(e).splitlines()[0]

    servers = [
        Server("netcore-c", "C", "netcore", [ROOT / "build" / "examples" / "echo_server"],
               "examples/c/echo_server.c (netcore C API, nc_poll)"),
        Server("libuv", "C", "anchor", [libuv_bin], "bench/anchors/libuv_echo.c (uv_read_start/uv_write)"),
        Server("netcore-py", "Python", "netcore", [netcore_py, ex_py],
               "examples/python/echo_server.py (netcore Python binding)"),
        Server("uvloop", "Python", "anchor", [py, BENCH / "anchors" / "uvloop_echo.py"],
               "bench/anchors/uvloop_echo.py (asyncio Protocol on uvloop)"),
        Server("asyncio", "Python", "anchor", [py, BENCH / "anchors" / "asyncio_echo.py"],
               "bench/anchors/asyncio_echo.py (asyncio Protocol, loop.create_server)"),
        # The same Protocol on netcore.aio's event loop: the asyncio-compatible layer (issue 13).
        Server("netcore-py-aio", "Python", "netcore", [netcore_py, BENCH / "anchors" / "netcore_aio_echo.py"],
               "bench/anchors/netcore_aio_echo.py (asyncio_echo.py's Protocol on netcore.aio.run)"),
        Server("netcore-node", "Node", "netcore", [node or "node", ex_node],
               "examples/node/echo_server.js (netcore Node binding)"),
        Server("node-net", "Node", "anchor", [node or "node", BENCH / "anchors" / "node_net_echo.js"],
               "bench/anchors/node_net_echo.js (net.createServer, noDelay)"),
        # The same anchor code on require('netcore').net: the `net`-compatible layer (issue 13).
        Server("netcore-node-net", "Node", "netcore",
               [node or "node", BENCH / "anchors" / "node_net_echo.js", "--netcore"],
               "bench/anchors/node_net_echo.js --netcore (the same code on require('netcore').net)"),
    ]
    by = {s.name: s for s in servers}
    if libuv_err:
        by["libuv"].unavailable(f"libuv anchor did not build ({libuv_err}); needs libuv1-dev")
    if not ex_py.exists():
        by["netcore-py"].unavailable("examples/python/echo_server.py does not exist yet")
    elif sh([netcore_py, "-c", "import netcore"], 60, check=False, quiet=True).returncode != 0:
        by["netcore-py"].unavailable("the netcore Python package is not installed (bindings/python not built)")
    if not by["netcore-py"].available:
        by["netcore-py-aio"].unavailable(by["netcore-py"].why)
    if sh([py, "-c", "import uvloop"], 60, check=False, quiet=True).returncode != 0:
        by["uvloop"].unavailable(f"uvloop is not installed in {py}" + (" (smoke runs do not install it)" if smoke else ""))
    if not node:
        for n in ("netcore-node", "netcore-node-net", "node-net"):
            by[n].unavailable("node is not installed")
    elif sh([node, "-e", "require(process.argv[1])", node_dir], 60, check=False, quiet=True).returncode != 0:
        for n in ("netcore-node", "netcore-node-net"):
            by[n].unavailable("the netcore Node binding does not load (bindings/node not built)")
    elif not ex_node.exists():
        by["netcore-node"].unavailable("examples/node/echo_server.js does not exist yet")

    # Versions.
    by["netcore-c"].version = netcore_version()
    by["netcore-py"].version = by["netcore-c"].version
    by["netcore-node"].version = by["netcore-c"].version
    libuv_v = first_line(["pkg-config", "--modversion", "libuv"])
    deb = first_line(["dpkg-query", "-W", "-f=${Version}", "libuv1-dev"])
    by["libuv"].version = f"libuv {libuv_v} (Debian libuv1-dev {deb})"
    pyv = first_line([py, "--version"])
    by["asyncio"].version = pyv
    uvv = first_line([py, "-c", "import uvloop; print(uvloop.__version__)"])
    by["uvloop"].version = f"uvloop {uvv} on {pyv}"
    nodev = first_line([node or "node", "--version"])
    by["node-net"].version = f"Node {nodev}"
    by["netcore-py"].version += f" on {first_line([netcore_py, '--version'])}"
    by["netcore-py-aio"].version = by["netcore-py"].version
    by["netcore-node"].version += f" on Node {nodev}"
    by["netcore-node-net"].version = by["netcore-node"].version
    return servers


def setup_tls_servers(plain: list[Server], smoke: bool) -> list[Server]:
    """The TLS table's servers: netcore's TLS echo examples and the anchors,
    all with the same certificate (made here) and the interpreters of their
    plaintext counterparts; unavailable where those are."""
    by = {s.name: s for s in plain}
    node = by["node-net"].argv[0]
    env = {"NETCORE_TLS_CERT": str(TLS_CERTS / "server.pem"), "NETCORE_TLS_KEY": str(TLS_CERTS / "server.key")}

    def tls(name, lang, role, argv, what, twin):
        srv = Server(name, lang, role, argv, what, env=env, client_args=TLS_CLIENT)
        srv.version = by[twin].version
        if not by[twin].available:
            srv.unavailable(by[twin].why)
        return srv

    ex = ROOT / "examples"
    openssl_bin = BUILD / "openssl_echo"
    c_bin = ROOT / "build" / "examples" / "tls_echo_server"
    servers = [
        tls("netcore-c-tls", "C", "netcore", [c_bin], "examples/c/tls_echo_server.c (netcore C API)", "netcore-c"),
        tls("openssl", "C", "anchor", [openssl_bin],
            "bench/anchors/openssl_echo.c (OpenSSL, non-blocking SSL_accept/SSL_read/SSL_write over epoll)",
            "netcore-c"),
        tls("netcore-py-tls", "Python", "netcore", [by["netcore-py"].argv[0], ex / "python" / "tls_echo_server.py"],
            "examples/python/tls_echo_server.py (netcore Python binding)", "netcore-py"),
        tls("uvloop-tls", "Python", "anchor", [*by["uvloop"].argv, "--tls"],
            "bench/anchors/uvloop_echo.py --tls (create_server(ssl=ctx) on uvloop)", "uvloop"),
        tls("asyncio-tls", "Python", "anchor", [*by["asyncio"].argv, "--tls"],
            "bench/anchors/asyncio_echo.py --tls (loop.create_server(ssl=ctx))", "asyncio"),
        tls("netcore-node-tls", "Node", "netcore", [node, ex / "node" / "tls_echo_server.js"],
            "examples/node/tls_echo_server.js (netcore Node binding)", "netcore-node"),
        tls("node-tls", "Node", "anchor", [*by["node-net"].argv, "--tls"],
            "bench/anchors/node_net_echo.js --tls (tls.createServer, noDelay)", "node-net"),
        # The same anchor code on require('netcore').tls: the `tls`-compatible layer.
        tls("netcore-node-net-tls", "Node", "netcore", [*by["netcore-node-net"].argv, "--tls"],
            "bench/anchors/node_net_echo.js --netcore --tls (the same code on require('netcore').tls)",
            "netcore-node-net"),
    ]
    if smoke:
        servers = servers[:2]
    tby = {s.name: s for s in servers}
    for name, src in (("netcore-c-tls", "c/tls_echo_server.c"), ("netcore-py-tls", "python/tls_echo_server.py"),
                      ("netcore-node-tls", "node/tls_echo_server.js")):
        if name in tby and not (ex / src).exists():
            tby[name].unavailable(f"examples/{src} does not exist yet")
    if tby["netcore-c-tls"].available and not c_bin.exists():
        tby["netcore-c-tls"].unavailable("build/examples/tls_echo_server was not built (make examples)")
    try:
        BUILD.mkdir(parents=True, exist_ok=True)
        sh([os.environ.get("CC", "cc"), "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
            BENCH / "anchors" / "openssl_echo.c", "-o", openssl_bin, "-lssl", "-lcrypto"], 300)
        ossl = first_line(["openssl", "version"])
        deb = first_line(["dpkg-query", "-W", "-f=${Version}", "libssl-dev"])
        tby["openssl"].version = f"{ossl} (Debian libssl-dev {deb})"
    except RuntimeError as e:
        tby["openssl"].unavailable(f"OpenSSL anchor did not build ({str(e).splitlines()[0]}); needs libssl-dev")
    try:
        shutil.rmtree(TLS_CERTS, ignore_errors=True)
        sh(["bash", ROOT / "tests" / "tls" / "make-certs.sh", TLS_CERTS], 120)
    except RuntimeError as e:
        for s in servers:
            s.unavailable(f"no test certificate (tests/tls/make-certs.sh: {str(e).splitlines()[0]})")
    return servers


def netcore_version() -> str:
    rev = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return f"netcore 0.1.0 ({rev})"


# ---- a running server ----------------------------------------------------------


class RunningServer:
    """Starts a server on 127.0.0.1:0 (pinned; optionally under valgrind),
    waits for its `listening on` line; stop() sends SIGINT and checks exit 0."""

    counter = 0

    def __init__(self, srv: Server, wrapper: list[str] | None = None, start_timeout: float = 20,
                 stop_timeout: float = 10) -> None:
        RunningServer.counter += 1
        self.srv = srv
        self.stop_timeout = stop_timeout
        logs = BUILD / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stem = logs / f"{srv.name}.{RunningServer.counter}"
        self.out_path = stem.with_suffix(".out")
        self.err_path = stem.with_suffix(".err")
        argv = M.pin(M.server_cpu) + (wrapper or []) + srv.argv + ["127.0.0.1:0"]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = spawn(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                              env=dict(os.environ, **srv.env))
        self.pid = self.proc.pid
        deadline = time.monotonic() + start_timeout
        line = ""
        while time.monotonic() < deadline:
            text = self.out_path.read_text(errors="replace")
            if "\n" in text:
                line = text.split("\n", 1)[0].strip()
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        m = re.fullmatch(r"listening on (\S+):(\d+)", line)
        if not m:
            rc = self.proc.poll()
            reap(self.proc, signal.SIGKILL)
            why = "exited with status %s" % rc if rc is not None else f"no 'listening on' line in {start_timeout:.0f}s"
            raise RuntimeError(f"{srv.name} did not start: {why}; stdout {line!r}; stderr: {self.stderr_tail()}")
        host = m.group(1).strip("[]")
        self.addr = f"[{host}]:{m.group(2)}" if ":" in host else f"{host}:{m.group(2)}"

    def stderr_tail(self) -> str:
        try:
            lines = self.err_path.read_text(errors="replace").strip().splitlines()
            return " | ".join(lines[-5:]) or "(empty)"
        except OSError:
            return "?"

    def cpu_seconds(self) -> float:
        """utime + stime of the whole process (all threads), in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is not None and self.pid not in LIVE:
            return
        crashed = self.proc.poll()
        rc = reap(self.proc, signal.SIGINT, self.stop_timeout)
        if crashed is not None:
            error(f"{self.srv.name} exited by itself during the run (status {rc}); stderr: {self.stderr_tail()}")
        elif rc != 0:
            error(f"{self.srv.name} did not exit 0 on SIGINT (status {rc}); stderr: {self.stderr_tail()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def loadgen(rs: RunningServer, args: list, timeout: float, what: str) -> dict | None:
    """Runs the load generator against a running server, pinned to the client
    CPU, with the client options the server needs (TLS); returns its JSON or
    None (after recording an error)."""
    argv = M.pin(M.client_cpu) + [LOADGEN, "--addr", rs.addr] + rs.srv.client_args + [str(a) for a in args]
    try:
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        error(f"{what}: loadgen timed out after {timeout:.0f}s")
        return None
    res = parse_json_line(r.stdout)
    if r.returncode != 0 or res is None or res.get("errors"):
        detail = (res or {}).get("error") or r.stderr.strip()[-300:]
        error(f"{what}: loadgen exit {r.returncode}: {detail}")
        return None
    return res


def parse_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def rotate(servers: list[Server], k: int) -> list[Server]:
    """The order of round k: every server in turn, starting one further on."""
    if not servers:
        return []
    k %= len(servers)
    return servers[k:] + servers[:k]


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def check(self, what: str) -> bool:
        if time.monotonic() > self.deadline:
            error(f"time budget exhausted: skipping {what}")
            return False
        return True


# ---- comparisons -------------------------------------------------------------------


def node_modules_stale(node_dir: Path) -> bool:
    """Whether `npm ci` must run: no node_modules yet, or package-lock.json
    changed since npm last installed (npm keeps its copy of the lock there)."""
    installed = node_dir / "node_modules" / ".package-lock.json"
    return not installed.exists() or installed.stat().st_mtime < (node_dir / "package-lock.json").stat().st_mtime


def run_server(srv: Server, fn, what: str, **kw):
    """Starts srv, calls fn(running), always stops it. Errors are recorded."""
    try:
        with RunningServer(srv, **kw) as rs:
            return fn(rs)
    except RuntimeError as e:
        error(f"{what}: {e}")
        return None


def preflight(servers: list[Server], smoke: bool) -> None:
    """A server that cannot start or echo a few bytes is 'not available' (its
    binding is not ready); for the C servers that is an error."""
    for s in servers:
        if not s.available:
            continue
        errs = len(ERRORS)
        res = run_server(s, lambda rs: loadgen(rs, ["--conns", 2, "--size", 64, "--messages", 20], 30,
                                               f"preflight {s.name}"), f"preflight {s.name}")
        if res is None or len(ERRORS) > errs:
            why = "; ".join(ERRORS[errs:])[:400]
            del ERRORS[errs:]
            if s.lang == "C":
                error(f"{s.name} failed its preflight: {why}")
            s.unavailable(f"failed to start or echo: {why}")
        else:
            log(f"{s.name}: ok ({s.version})")


def bench_echo(servers, cfg, res, budget):
    """Every round runs every (size, server) pair, so a change in the
    machine's load over time hits every size and every server alike."""
    out = res.setdefault("echo", {})
    layer_servers = {n for layer in LAYERS for n in [layer, *PEERS[layer]]}
    for rnd in range(max(cfg["runs"], cfg["layer_min_rounds"])):
        # Rounds past cfg["runs"] run the layers' comparisons only.
        in_round = servers if rnd < cfg["runs"] else [s for s in servers if s.name in layer_servers]
        if not in_round:
            return
        for size in cfg["echo_sizes"]:
            if not budget.check(f"echo {size} B round {rnd + 1}"):
                return
            cell = out.setdefault(str(size), {})
            for s in rotate(in_round, rnd):
                what = f"echo {size} B {s.name} run {rnd + 1}"

                def go(rs, size=size, what=what):
                    c0 = rs.cpu_seconds()
                    r = loadgen(rs, ["--mode", "pingpong", "--conns", cfg["echo_conns"], "--size", size,
                                          "--duration", cfg["echo_duration"], "--warmup", cfg["echo_warmup"]],
                                cfg["echo_duration"] + cfg["echo_warmup"] + 60, what)
                    c1 = rs.cpu_seconds()
                    if r is None:
                        return None
                    total = max(r["total_messages"], 1)
                    return dict(rps=r["requests_per_s"], mibs=r["mib_per_s"], p50=r["lat_p50_us"],
                                p99=r["lat_p99_us"], cpu_s=c1 - c0, total_messages=r["total_messages"],
                                cpu_per_M=(c1 - c0) / total * 1e6, tls=r.get("tls"))

                r = run_server(s, go, what)
                if r:
                    cell.setdefault(s.name, []).append(r)
                    log(f"{what}: {r['rps']:.0f} req/s, p50 {r['p50']:.0f} us, p99 {r['p99']:.0f} us, "
                        f"{r['cpu_per_M']:.2f} CPU s/M")


def parse_callgrind_total(path: Path) -> int:
    text = path.read_text(errors="replace")
    for key in ("summary:", "totals:"):
        for line in text.splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(f"no summary/totals line in {path}")


def callgrind_per_unit(name: str, argv_at, drive, short: int, long: int, port: int, cwd: Path) -> float:
    """Instructions per unit of work of a server under callgrind: two runs of
    `argv_at(port)` (a server that prints "listening ..." once it accepts),
    each loaded by `drive(port, units)` and then ended by SIGINT, one with
    `short` units and one with `long`; (long run - short run) / (long -
    short), so start-up and shutdown cancel out. The runs use `port` and
    `port + 1`; their profiles go to build/bench/callgrind/NAME.UNITS.out."""
    totals = []
    for units, at in ((short, port), (long, port + 1)):
        out = BUILD / "callgrind" / f"{name}.{units}.out"
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv_at(at)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd)
        try:
            assert proc.stdout is not None
            if not proc.stdout.readline().startswith(b"listening"):
                raise RuntimeError(f"{name}: the server did not start")
            drive(at, units)
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
        totals.append(parse_callgrind_total(out))
    return (totals[1] - totals[0]) / (long - short)


def annotate(path: Path) -> dict[str, int]:
    """Exclusive Ir per function, from callgrind_annotate."""
    r = sh(["callgrind_annotate", "--auto=no", "--threshold=100", "--inclusive=no", path], 300, check=False, quiet=True)
    funcs: dict[str, int] = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
        if m and ("PROGRAM TOTALS" not in line):
            name = m.group(2).strip()
            if name.startswith("PROGRAM TOTALS") or name.startswith("Ir"):
                continue
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    return funcs


def function_name(entry: str) -> tuple[str, str]:
    """'file:function [object]' -> ('function', 'object basename'): inlined
    pieces of one function, listed under the files they came from, add up."""
    m = re.match(r"^(.*?):(.*?)(?: \[(.*)\])?$", entry)
    if not m:
        return entry, ""
    fn, obj = m.group(2), m.group(3)
    if fn.endswith("'2"):
        fn = fn[:-2]
    return fn, (Path(obj).name if obj else "")


def bench_callgrind(servers, cfg, res, budget, smoke):
    valgrind = shutil.which("valgrind")
    runs_out = res.setdefault("callgrind_runs", {})
    if not valgrind:
        error("valgrind is not installed: no instruction counts")
        return
    cgdir = BUILD / "callgrind"
    cgdir.mkdir(parents=True, exist_ok=True)
    conns, size, per = cfg["cg_conns"], cfg["cg_size"], cfg["cg_per_conn"]
    load_msgs = conns * (per + 1)
    base_msgs = conns
    todo = [s for s in servers if cfg["callgrind_all"] or s.lang == "C"]
    for rnd in range(cfg["cg_runs"]):
        for s in rotate(todo, rnd):
            if not budget.check(f"callgrind {s.name} run {rnd + 1}"):
                return
            entry = callgrind_one(s, valgrind, cgdir, rnd, conns, size, load_msgs, base_msgs)
            if entry:
                runs_out.setdefault(s.name, []).append(entry)
                log(f"callgrind {s.name} run {rnd + 1}: {entry['per_echo']:.0f} instructions/echo")


# The V8 option that fixes its hash seed in the callgrind runs.
NODE_HASH_SEED = "--hash-seed=1"


def callgrind_one(s, valgrind, cgdir, rnd, conns, size, load_msgs, base_msgs, mode_args=None,
                  tag="", idle_base=True) -> dict | None:
    """Instructions per echo: a run of load_msgs messages minus one of
    base_msgs; mode_args replace the TCP ping-pong options (the UDP mode's),
    tag marks the files. idle_base keeps the baseline server up, idle, as
    long as the loaded one ran."""
    mode_args = mode_args or ["--mode", "pingpong", "--conns", conns, "--size", size]
    if s.lang == "Node":
        # V8 draws a random hash seed at start-up and searches primes with it:
        # 4-12 M instructions, which moved a run by up to 170 per echo. One
        # fixed seed makes the loaded and the baseline run start alike.
        s = copy.copy(s)
        s.argv = [s.argv[0], NODE_HASH_SEED, *s.argv[1:]]
    files = {}
    load_time = 0.0
    for kind, msgs in (("load", load_msgs), ("base", base_msgs)):
        path = cgdir / f"{s.name}{tag}.{rnd + 1}.{kind}.out"
        path.unlink(missing_ok=True)
        wrapper = [valgrind, "--tool=callgrind", f"--callgrind-out-file={path}"]
        what = f"callgrind {s.name} run {rnd + 1} {kind}"

        def go(rs, msgs=msgs, kind=kind):
            nonlocal load_time
            t = time.monotonic()
            r = loadgen(rs, [*mode_args, "--messages", msgs], 900, what)
            if kind == "load":
                load_time = time.monotonic() - t
            elif idle_base:
                # Keep the baseline server up as long as the loaded one
                # was: timer wakeups and the like cancel out.
                time.sleep(max(0.0, min(load_time - (time.monotonic() - t), 120)))
            return r

        errs = len(ERRORS)
        r = run_server(s, go, what, wrapper=wrapper, start_timeout=240, stop_timeout=180)
        if r is None or len(ERRORS) > errs or not path.exists():
            error(f"callgrind {s.name}: no result")
            return None
        files[kind] = path
    try:
        ir_load = parse_callgrind_total(files["load"])
        ir_base = parse_callgrind_total(files["base"])
    except (RuntimeError, ValueError) as e:
        error(f"callgrind {s.name}: {e}")
        return None
    echoes = load_msgs - base_msgs
    entry = dict(ir_load=ir_load, ir_base=ir_base, echoes=echoes, per_echo=(ir_load - ir_base) / echoes,
                 files=[str(files["load"].relative_to(ROOT)), str(files["base"].relative_to(ROOT))])
    # Where the instructions go: per-function difference, per echo.
    if s.role == "netcore" or s.lang == "C":
        fl, fb = annotate(files["load"]), annotate(files["base"])
        diff: dict[str, float] = {}
        objs: dict[str, str] = {}
        for k, v in fl.items():
            fn, obj = function_name(k)
            diff[fn] = diff.get(fn, 0.0) + (v - fb.get(k, 0)) / echoes
            if obj:
                objs.setdefault(fn, obj)
        top = sorted(diff.items(), key=lambda kv: -kv[1])[:25]
        entry["top"] = [(f"{k} ({objs[k]})" if k in objs else k, round(v, 1)) for k, v in top if v > 0]
    return entry


def bench_idle(servers, cfg, res, budget):
    out = res.setdefault("idle", {})
    n = cfg["idle_conns"]
    for rnd in range(cfg["runs"]):
        if not budget.check(f"idle round {rnd + 1}"):
            return
        for s in rotate(servers, rnd):
            what = f"idle {s.name} run {rnd + 1}"

            def go(rs):
                # Warm-up: a running server has compiled its hot paths (a JIT's
                # code pages are a one-time cost, not a connection's), so every
                # server echoes on a few connections before the baseline.
                if loadgen(rs, ["--conns", 8, "--size", cfg["idle_size"], "--messages", 2000], 60, what) is None:
                    return None
                time.sleep(0.2)
                rss0 = rs.rss_kib()
                argv = M.pin(M.client_cpu) + [LOADGEN, "--addr", rs.addr, *rs.srv.client_args, "--mode", "idle",
                                              "--conns", n, "--size", cfg["idle_size"], "--timeout", 120,
                                              "--hold-max", 300]
                p = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    ready, _, _ = select.select([p.stdout], [], [], 150)
                    line = p.stdout.readline() if ready else ""
                    est = parse_json_line(line) or {}
                    if est.get("conns") != n or est.get("errors"):
                        stdout, stderr = p.communicate(timeout=60)  # closes stdin: stop holding
                        fin = parse_json_line(stdout) or {}
                        error(f"{what}: established {est.get('conns')} of {n}: {fin.get('error') or stderr[-300:]}")
                        return None
                    time.sleep(0.5)
                    rss1 = rs.rss_kib()
                    stdout, stderr = p.communicate(timeout=60)  # closes stdin: stop holding
                    fin = parse_json_line(stdout) or {}
                    if p.returncode != 0 or fin.get("errors"):
                        error(f"{what}: loadgen exit {p.returncode}: {fin.get('error') or stderr[-300:]}")
                        return None
                finally:
                    reap(p, signal.SIGKILL)
                return dict(rss0_kib=rss0, rss1_kib=rss1, bytes_per_conn=(rss1 - rss0) * 1024 / n,
                            connect_s=est.get("elapsed_s"))

            r = run_server(s, go, what, stop_timeout=30)
            if r:
                out.setdefault(s.name, []).append(r)
                log(f"{what}: {r['bytes_per_conn']:.0f} B/conn (RSS {r['rss0_kib']} -> {r['rss1_kib']} KiB)")


def bench_simple(servers, cfg, res, budget, key, args, metric, unit):
    out = res.setdefault(key, {})
    for rnd in range(cfg["runs"]):
        if not budget.check(f"{key} round {rnd + 1}"):
            return
        for s in rotate(servers, rnd):
            what = f"{key} {s.name} run {rnd + 1}"

            def go(rs, what=what):
                c0 = rs.cpu_seconds()
                r = loadgen(rs, args, 90, what)
                return r and dict(r, cpu_s=rs.cpu_seconds() - c0)

            r = run_server(s, go, what)
            if r:
                out.setdefault(s.name, []).append(dict(value=r[metric], p50=r["lat_p50_us"], p99=r["lat_p99_us"],
                                                       tls=r.get("tls"), tls_full=r.get("tls_full", 0),
                                                       tls_resumed=r.get("tls_resumed", 0))
                                                  | ({"cpu_ms_per_mib": r["cpu_s"] * 1e3 / max(r["bytes"] / 2**20, 1)}
                                                     if key == "bulk" else {}))
                log(f"{what}: {r[metric]:.1f} {unit}" + (f" ({r['tls_resumed']} resumed, {r['tls_full']} full)"
                                                        if key.startswith("hs") else ""))


def bench_tls(servers, cfg, res, smoke):
    """The TLS table: the comparisons above through TLS (res["tls"] holds
    them in the same shape), plus full and resumed handshakes per second
    (churn mode: connect, handshake, echo 1 byte, close_notify, close)."""
    out = res.setdefault("tls", {})
    budget = Budget(cfg["tls_budget_s"])
    tcfg = dict(cfg, runs=cfg["tls_runs"], echo_sizes=cfg["tls_echo_sizes"])
    bench_echo(servers, tcfg, out, budget)
    churn = ["--mode", "churn", "--conns", cfg["churn_workers"], "--duration", cfg["churn_duration"], "--warmup", 0.1]
    for key, resumption in (("hs_full", "off"), ("hs_resumed", "on")):
        bench_simple(servers, tcfg, out, budget, key, churn + ["--resumption", resumption], "requests_per_s",
                     "handshakes/s")
    if smoke:
        return
    bench_simple(servers, tcfg, out, budget, "bulk",
                 ["--mode", "bulk", "--conns", 1, "--size", cfg["bulk_size"], "--window", cfg["bulk_window"],
                  "--duration", cfg["bulk_duration"], "--warmup", 0.2], "mib_per_s", "MiB/s")
    bench_idle(servers, dict(tcfg, runs=cfg["tls_idle_runs"]), out, budget)
    bench_callgrind(servers, dict(tcfg, cg_per_conn=cfg["tls_cg_per_conn"], cg_runs=cfg["tls_cg_runs"]), out, budget,
                    smoke)


def smoke_extras(servers, cfg, res) -> None:
    """Paths the comparisons do not take: pipelined mode, and a server that
    corrupts a byte must make the load generator fail."""
    c = next((s for s in servers if s.name == "netcore-c" and s.available), None)
    if c:
        r = run_server(c, lambda rs: loadgen(rs, ["--mode", "pipeline", "--conns", 4, "--depth", 8, "--size", 512,
                                                       "--messages", 2000], 60, "smoke pipeline"), "smoke pipeline")
        if r is not None:
            log(f"smoke pipeline: {r['requests_per_s']:.0f} req/s")
    bad = Server("corrupt", "Python", "anchor", [shutil.which("python3") or sys.executable,
                                                  BENCH / "smoke_corrupt_echo.py"], "smoke check")

    def go(rs):
        argv = [str(LOADGEN), "--addr", rs.addr, "--conns", "2", "--size", "512", "--messages", "10"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        j = parse_json_line(r.stdout) or {}
        if r.returncode == 0 or "mismatch" not in (j.get("error") or ""):
            error(f"smoke: a corrupted echo was not caught (exit {r.returncode}, {j.get('error')})")
        else:
            log(f"smoke: corrupted echo caught: {j['error']}")

    run_server(bad, go, "smoke corrupt echo")


# ---- statistics, targets, report ------------------------------------------------------


def med(runs: list[dict] | None, key: str) -> float | None:
    if not runs:
        return None
    return statistics.median(r[key] for r in runs)


def summarize(res: dict) -> dict:
    """Medians per comparison: {comparison: {server: {metric: value}}}."""
    s: dict = {}
    for size, cell in res.get("echo", {}).items():
        s[f"echo{size}"] = {n: {k: med(runs, k) for k in ("rps", "mibs", "p50", "p99", "cpu_per_M")} | {"n": len(runs)}
                            for n, runs in cell.items()}
    s["idle"] = {n: {"bytes_per_conn": med(runs, "bytes_per_conn"), "n": len(runs)}
                 for n, runs in res.get("idle", {}).items()}
    for key in ("bulk", "churn", "hs_full", "hs_resumed"):
        s[key] = {n: {"value": med(runs, "value"), "p50": med(runs, "p50"), "p99": med(runs, "p99"), "n": len(runs),
                      "cpu_ms_per_mib": med(runs, "cpu_ms_per_mib") if key == "bulk" else None,
                      "resumed": sum(r.get("tls_resumed", 0) for r in runs),
                      "handshakes": sum(r.get("tls_resumed", 0) + r.get("tls_full", 0) for r in runs)}
                  for n, runs in res.get(key, {}).items()}
    cg = {}
    for n, runs in res.get("callgrind_runs", {}).items():
        ordered = sorted(runs, key=lambda r: r["per_echo"])
        mid = ordered[(len(ordered) - 1) // 2]  # the median run (lower middle): its profile is shown
        cg[n] = dict(mid, per_echo=statistics.median(r["per_echo"] for r in runs), n=len(runs),
                     all=[round(r["per_echo"]) for r in runs])
    s["callgrind"] = cg
    return s


def get(summary, comp, server, key):
    v = summary.get(comp, {}).get(server, {})
    return v.get(key) if isinstance(v, dict) else None


def spread(res: dict, comp: str, server: str, key: str) -> tuple[float, float] | None:
    """(min, max) over the runs of one comparison, for the noise note."""
    if comp.startswith("echo"):
        runs = res.get("echo", {}).get(comp[4:], {}).get(server)
    else:
        runs = res.get(comp, {}).get(server)
    if not runs:
        return None
    vals = [r[key] for r in runs]
    return min(vals), max(vals)


def evaluate_targets(summary: dict, sizes: list[int], res: dict, targets=TARGETS, peers=PEERS,
                     extra=(("bulk", "value", "bulk throughput"), ("churn", "value", "accept+close churn"))
                     ) -> list[tuple[str, str, str]]:
    """[(target, measured, verdict)] for every goal of the issue and SPEC §5
    (or, given the TLS tables, issue 12's). Throughput verdicts compare
    medians; when the two servers' run-to-run ranges overlap the verdict says
    so (the machine is shared and noisy)."""
    rows = []

    def verdict(ok):
        return "MET" if ok else "NOT MET"

    for nc, peer, ir_max, mem_max in targets:
        a = get(summary, "callgrind", nc, "per_echo")
        b = get(summary, "callgrind", peer, "per_echo")
        name = f"{nc}: instructions/echo ≤ {ir_max}× {peer}"
        if a is None or b is None:
            rows.append((name, "not measured (" + (nc if a is None else peer) + " has no figure)", "NOT MEASURED"))
        else:
            rows.append((name, f"{a:,.0f} vs {b:,.0f} = {a / b:.2f}×", verdict(a <= ir_max * b)))
        a = get(summary, "idle", nc, "bytes_per_conn")
        b = get(summary, "idle", peer, "bytes_per_conn")
        if mem_max is not None:
            name = f"{nc}: memory per idle connection ≤ {mem_max}× {peer}"
            if a is None or b is None:
                rows.append((name, "not measured", "NOT MEASURED"))
            else:
                rows.append((name, f"{a:,.0f} B vs {b:,.0f} B = {a / b:.2f}×", verdict(a <= mem_max * b)))
    for nc, their_peers in peers.items():
        for peer in their_peers:
            comps = [(f"echo{sz}", "rps", f"echo throughput at {fmt_size(sz)}") for sz in sizes] + list(extra)
            for comp, key, label in comps:
                a, b = get(summary, comp, nc, key), get(summary, comp, peer, key)
                name = f"{nc}: {label} ≥ {peer}"
                if a is None or b is None:
                    rows.append((name, "not measured", "NOT MEASURED"))
                else:
                    ra, rb = spread(res, comp, nc, key), spread(res, comp, peer, key)
                    v = verdict(a >= b)
                    if ra and rb and ra[1] >= rb[0] and rb[1] >= ra[0] and min(len_runs(res, comp, nc),
                                                                             len_runs(res, comp, peer)) > 1:
                        v += " (within noise)"
                    rows.append((name, f"{a:,.0f} vs {b:,.0f} = {a / b:.2f}×", v))
    return rows


def evaluate_limits(summary: dict) -> list[tuple[str, str, str]]:
    """[(target, measured, verdict)] for issue 14's absolute goals (LIMITS)."""
    rows = []
    for server, table, key, most, what in LIMITS:
        a = get(summary, table, server, key)
        name = f"{server}: {what} ≤ {most:,}"
        rows.append((name, "not measured", "NOT MEASURED") if a is None
                    else (name, f"{a:,.0f}", "MET" if a <= most else "NOT MET"))
    return rows


def len_runs(res: dict, comp: str, server: str) -> int:
    if comp.startswith("echo"):
        return len(res.get("echo", {}).get(comp[4:], {}).get(server) or [])
    return len(res.get(comp, {}).get(server) or [])


def fmt_size(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def fmt(v, spec=",.0f", none="—"):
    return none if v is None else format(v, spec)


def ratio_text(summary, comp, server, key, higher_better=True, peers=PEERS):
    """'1.23× libuv' style ratios against the server's language peers."""
    peers = peers.get(server)
    if not peers:
        return ""
    a = get(summary, comp, server, key)
    parts = []
    for p in peers:
        b = get(summary, comp, p, key)
        if a is not None and b:
            parts.append(f"{a / b:.2f}× {p}")
    return ", ".join(parts)


def verdict_text(v: str) -> str:
    return v.replace("NOT MEASURED", "not measured").replace("NOT MET", "**not met**").replace("MET", "met")


def targets_block(targets) -> list[str]:
    """The count of verdicts, the targets not met, and the table of all."""
    met = sum(1 for t in targets if t[2].startswith("MET"))
    miss = [t for t in targets if t[2].startswith("NOT MET")]
    nm = sum(1 for t in targets if t[2] == "NOT MEASURED")
    noisy = sum(1 for t in targets if "noise" in t[2])
    L = [f"**{met} met, {len(miss)} not met, {nm} not measured** ({noisy} of the throughput verdicts are within "
         "run-to-run noise: the two servers' ranges over the runs overlap)."]
    if miss:
        L += ["", "Not met: " + "; ".join(f"{t[0]} ({t[1]})" for t in miss) + "."]
    L += ["", "| target | measured | verdict |", "|---|---|---|"]
    L += [f"| {name} | {measured} | {verdict_text(v)} |" for name, measured, v in targets]
    return L + [""]


def tls_section(res: dict, servers: list[Server], cfg: dict, targets) -> list[str]:
    """Section 7 of the report: the TLS table, its targets, and where the C
    servers' instructions go."""
    t = res.get("tls", {})
    summary = t.get("summary", {})
    sizes = cfg["tls_echo_sizes"]
    L = []
    w = L.append
    w("## 7. TLS")
    w("")
    negotiated = set()
    for key in ("echo", "bulk", "hs_full", "hs_resumed"):
        for cell in t.get(key, {}).values() if key == "echo" else [t.get(key, {})]:
            for runs in cell.values():
                negotiated.update(r["tls"] for r in runs if r.get("tls"))
    w("Issue 12's comparison. Every server has the same certificate and key (ECDSA P-256, made at bench time by "
      "`tests/tls/make-certs.sh` under `build/bench/tls-certs/`, never downloaded); the load generator (a rustls "
      "client with the ring provider, trusting only the test CA) offers only TLS 1.3, TLS13_AES_128_GCM_SHA256 "
      "and X25519, so every server negotiates the same; negotiated in this run: "
      + (", ".join(f"`{n}`" for n in sorted(negotiated)) or "nothing (no TLS run)") + ". Every echoed byte is checked "
      f"after decryption. {cfg['tls_runs']} round(s), medians; server CPU pinned as above.")
    w("")
    w(f"- instructions: callgrind, {cfg['cg_conns']} connections × 512 B, {cfg['tls_cg_per_conn']:,} echoes per "
      f"connection minus a baseline run with one (the handshakes cancel out), {cfg['tls_cg_runs']} run(s); "
      "valgrind's emulated CPU has AES-NI but not VAES/AVX-512, so compare these only with each other.")
    w(f"- echo: ping-pong, {cfg['echo_conns']} connections, {cfg['echo_duration']} s after {cfg['echo_warmup']} s "
      "warm-up, requests/s; bulk: one connection, "
      f"{fmt_size(cfg['bulk_size'])} writes, {cfg['bulk_window'] >> 20} MiB in flight, {cfg['bulk_duration']} s.")
    w(f"- handshakes: {cfg['churn_workers']} client workers, each in a loop: connect, handshake, echo 1 byte, "
      f"close_notify, close; {cfg['churn_duration']} s. Full: client session resumption off. Resumed: rustls's "
      "client session cache offers the tickets of earlier connections; the share of handshakes the server "
      "actually resumed is shown when it is under 99 %.")
    w(f"- idle: server RSS growth with {cfg['idle_conns']:,} TLS connections open, each having echoed "
      f"{cfg['idle_size']} bytes once, per connection ({cfg['tls_idle_runs']} run(s)).")
    w("")
    w("Servers: " + "; ".join(f"{s.name}: {s.what}" + (f", {s.version}" if s.version else "") for s in servers) + ".")
    w("")
    head = ["server", "instructions / 512 B echo"] + [f"echo {fmt_size(sz)} req/s" for sz in sizes]
    head += ["bulk MiB/s", "full handshakes/s", "resumed handshakes/s", "bytes / idle TLS connection",
             "target / met?"]
    w("| " + " | ".join(head) + " |")
    w("|" + "---|" * len(head))
    for srv in servers:
        n = srv.name
        if not srv.available:
            w(f"| {n} | **not available**: {srv.why} |" + " |" * (len(head) - 2))
            continue
        hs = get(summary, "hs_resumed", n, "handshakes")
        share = get(summary, "hs_resumed", n, "resumed") / hs if hs else None
        resumed = fmt(get(summary, "hs_resumed", n, "value"), ",.0f", "n/a")
        if share is not None and share < 0.99:  # each worker's first handshake is a full one
            resumed += f" ({share:.0%} resumed)"
        # One entry per target; the echo sizes against one peer share an entry.
        mine, echo = [], {}
        for name, _, v in targets:
            label = name.removeprefix(n + ": ")
            m = re.fullmatch(r"echo throughput at (.+) ≥ (.+)", label)
            if label == name:
                continue
            if m:
                echo.setdefault(m.group(2), []).append((m.group(1), verdict_text(v)))
            else:
                mine.append(f"{label}: {verdict_text(v)}")
        mine += [f"echo ≥ {peer} at {'/'.join(sz for sz, _ in got)}: {'/'.join(v for _, v in got)}"
                 for peer, got in echo.items()]
        verdicts = "; ".join(mine)
        cells = [n, fmt(get(summary, "callgrind", n, "per_echo"), ",.0f", "n/a")]
        cells += [fmt(get(summary, f"echo{sz}", n, "rps"), ",.0f", "n/a") for sz in sizes]
        cells += [fmt(get(summary, "bulk", n, "value"), ",.0f", "n/a"),
                  fmt(get(summary, "hs_full", n, "value"), ",.0f", "n/a"), resumed,
                  fmt(get(summary, "idle", n, "bytes_per_conn"), ",.0f", "n/a"), verdicts or "(anchor)"]
        w("| " + " | ".join(cells) + " |")
    w("")
    w("TLS targets (issue 12), from the medians above:")
    w("")
    L.extend(targets_block(targets))
    cg = summary.get("callgrind", {})
    for srv in servers:
        d = cg.get(srv.name)
        if srv.lang != "C" or not d or not d.get("top"):
            continue
        w(f"Where {srv.name}'s instructions go ({fmt(d['per_echo'])} per echo; exclusive, per echo, top 10):")
        w("")
        w("| Ir/echo | function |")
        w("|---|---|")
        for fn, v in d["top"][:10]:
            w(f"| {v:,.1f} | `{fn.replace('|', '/')[:160]}` |")
        w("")
    return L


def write_report(path: Path, res: dict, summary: dict, servers: list[Server], cfg: dict, smoke: bool,
                 chart_name: str, targets, json_path: Path, tls_servers: list[Server], tls_targets,
                 http_servers: list[Server]) -> None:
    names = [s.name for s in servers]
    avail = [s for s in servers if s.available]
    meta = res["meta"]
    L = []
    w = L.append
    w("# netcore benchmark results")
    w("")
    kind = "smoke run (tiny counts: the figures are not meaningful)" if smoke else "full run"
    w(f"Generated by `bench/run.py` (`make bench`), {kind}, on {meta['date']}. Every figure below comes from "
      f"this one run; the raw numbers are in `{json_path.relative_to(ROOT)}`. The chart `{chart_name}` shows the echo "
      "throughput and instructions/echo tables.")
    w("")
    w("## Machine")
    w("")
    w(f"- {meta['nproc']} CPUs ({meta['cpu_model']}), {meta['memory']}, Linux {meta['kernel']}; "
      f"load average at start {meta['loadavg']} — the machine is shared, so wall-clock figures are noisy; "
      "the callgrind instruction counts are the stable ones.")
    w(f"- Pinning: {meta['pinning']}.")
    w(f"- Each comparison runs every server in turn (order rotated every round), {cfg['runs']} round(s); "
      f"the echo rounds of {', '.join(LAYERS)} and their peers at least {cfg['layer_min_rounds']}; "
      "tables show medians (the `runs` column says how many).")
    w("")
    w("| server | language | what | version | status |")
    w("|---|---|---|---|---|")
    for s in servers:
        st = "available" if s.available else f"**not available**: {s.why}"
        w(f"| {s.name} | {s.lang} | {s.what} | {s.version} | {st} |")
    w(f"")
    w(f"Tools: {meta['tools']}.")
    w("")

    w("## Targets")
    w("")
    w("From issue 6 (instructions/echo and memory), SPEC §5 (ahead of each peer in its language: "
      "throughput at each size, bulk, churn) and issue 14 (instructions/echo and idle memory at most a fixed "
      "figure; p99 at fixed load ≤ each peer's; churn ≥ each peer). "
      "Computed from the medians below.")
    w("")
    L.extend(targets_block(targets))

    w(f"## 1. Echo throughput and latency")
    w("")
    w(f"Ping-pong, {cfg['echo_conns']} connections, one message in flight per connection, "
      f"{cfg['echo_duration']} s measured after {cfg['echo_warmup']} s warm-up; every echoed byte checked. "
      "Each round runs every size with every server, so load changes on the machine hit all cells alike.")
    for size in cfg["echo_sizes"]:
        comp = f"echo{size}"
        w("")
        w(f"### {fmt_size(size)} messages")
        w("")
        w("| server | requests/s | MiB/s | p50 µs | p99 µs | vs peer (requests/s) | runs |")
        w("|---|---|---|---|---|---|---|")
        for n in names:
            d = summary.get(comp, {}).get(n)
            if not d:
                w(f"| {n} | n/a | | | | | 0 |")
                continue
            w(f"| {n} | {fmt(d['rps'])} | {fmt(d['mibs'], ',.1f')} | {fmt(d['p50'])} | {fmt(d['p99'])} | "
              f"{ratio_text(summary, comp, n, 'rps')} | {d['n']} |")
    w("")

    w("## 2. User-space instructions per echoed message (callgrind)")
    w("")
    cg = summary.get("callgrind", {})
    w(f"`valgrind --tool=callgrind`, ping-pong, {cfg['cg_conns']} connections × {cfg['cg_size']} B, "
      f"{cfg['cg_conns'] * (cfg['cg_per_conn'] + 1)} messages, minus a baseline run of the same server with "
      f"{cfg['cg_conns']} messages (start-up, connection set-up and shutdown cancel out; the baseline server is "
      "kept up as long as the loaded one). Total `Ir` of the whole process (all threads, JIT and GC included). "
      f"Node servers run with `node {NODE_HASH_SEED}` here, so V8's random start-up work is the same in both runs. "
      f"Median of {cfg['cg_runs']} run(s); Ir columns are from the median run.")
    w("")
    w("| server | instructions/echo | vs peer | every run | Ir loaded | Ir baseline | issue's reference |")
    w("|---|---|---|---|---|---|---|")
    for n in names:
        d = cg.get(n)
        ref = REFERENCE.get(n, (None, None))[0]
        if not d:
            w(f"| {n} | n/a | | | | | {fmt(ref)} |")
            continue
        every = ", ".join(f"{v:,}" for v in d.get("all", []))
        w(f"| {n} | {fmt(d['per_echo'])} | {ratio_text(summary, 'callgrind', n, 'per_echo')} | {every} "
          f"| {fmt(d['ir_load'])} | {fmt(d['ir_base'])} | {fmt(ref)} |")
    w("")

    w("## 3. Server CPU time per million messages")
    w("")
    w("From the 512 B echo runs: server utime+stime (`/proc/PID/stat`, all threads) over the whole load-generator "
      "run, divided by every message echoed in it (warm-up included). Includes kernel time.")
    w("")
    w("| server | CPU s / million messages | vs peer |")
    w("|---|---|---|")
    comp = "echo512" if "echo512" in summary else next((k for k in summary if k.startswith("echo")), "echo512")
    for n in names:
        v = get(summary, comp, n, "cpu_per_M")
        w(f"| {n} | {fmt(v, ',.2f', 'n/a')} | {ratio_text(summary, comp, n, 'cpu_per_M') if v is not None else ''} |")
    w("")

    w("## 4. Memory per idle connection")
    w("")
    w(f"Server RSS (`VmRSS`) growth while {cfg['idle_conns']:,} connections are open, each having echoed "
      f"{cfg['idle_size']} bytes once, divided by {cfg['idle_conns']:,}; the baseline is taken after every server "
      "echoed 2,000 messages on 8 connections, so a JIT's one-time code pages are not counted per connection. "
      "For the netcore C server this includes the example's own per-connection state (its `conn` struct and slot).")
    w("")
    w("| server | bytes per idle connection | vs peer | issue's reference |")
    w("|---|---|---|---|")
    for n in names:
        v = get(summary, "idle", n, "bytes_per_conn")
        ref = REFERENCE.get(n, (None, None))[1]
        w(f"| {n} | {fmt(v, ',.0f', 'n/a')} | {ratio_text(summary, 'idle', n, 'bytes_per_conn') if v is not None else ''}"
          f" | {fmt(ref)} |")
    w("")

    w("## 5. Single-connection bulk throughput")
    w("")
    w(f"One connection, {fmt_size(cfg['bulk_size'])} writes, at most {cfg['bulk_window'] >> 20} MiB in flight, "
      f"{cfg['bulk_duration']} s; MiB/s of checked bytes echoed back. Server CPU: utime+stime (all threads, kernel "
      "included) over the whole load-generator run (its 0.2 s warm-up too) per MiB echoed in the measured "
      "seconds; less sensitive than MiB/s to the machine's other load. Medians of the rounds.")
    w("")
    w("| server | MiB/s | vs peer | server CPU ms / MiB (lower is better) | vs peer |")
    w("|---|---|---|---|---|")
    for n in names:
        v = get(summary, "bulk", n, "value")
        c = get(summary, "bulk", n, "cpu_ms_per_mib")
        w(f"| {n} | {fmt(v, ',.0f', 'n/a')} | {ratio_text(summary, 'bulk', n, 'value') if v is not None else ''} "
          f"| {fmt(c, ',.2f', 'n/a')} | {ratio_text(summary, 'bulk', n, 'cpu_ms_per_mib') if c is not None else ''} |")
    w("")

    L.extend(latency_bench.churn_section(res, summary, names, cfg))

    if tls_servers:
        L.extend(tls_section(res, tls_servers, cfg, tls_targets))
    if http_servers:
        L.extend(http_bench.section(sys.modules[__name__], res, http_servers))
    L.extend(latency_bench.sections(res, names, cfg))
    L.extend(udp_bench.report_section(sys.modules[__name__], res))
    profs = [(n, cg[n]) for n in names if n in cg and cg[n].get("top")]
    if profs:
        w("## Where the instructions go")
        w("")
        w("Exclusive instructions per echo by function: `callgrind_annotate --inclusive=no` of the median loaded run "
          "minus its baseline run, divided by the echoes; code inlined into a function from other files is summed "
          "into it. The callgrind files are kept under `build/bench/callgrind/`.")
        for n, d in profs:
            w("")
            w(f"### {n} ({fmt(d['per_echo'])} instructions/echo)")
            w("")
            w("| Ir/echo | function |")
            w("|---|---|")
            for fn, v in d["top"][:15]:
                w(f"| {v:,.1f} | `{fn.replace('|', '/')[:160]}` |")
    w("")
    if ERRORS:
        w("## Errors in this run")
        w("")
        for e in ERRORS:
            w(f"- {e}")
        w("")
    w("## How to run")
    w("")
    w("`make bench` (or `python3 bench/run.py`) regenerates this file and the chart; `make bench-smoke` "
      "(`bench/run.py --smoke`) runs every code path in seconds and writes its report under `build/bench/smoke/`.")
    path.write_text("\n".join(L) + "\n")


def make_chart(json_path: Path, png: Path) -> None:
    py = mpl_python()
    if py is None:
        error("matplotlib is not available: no chart")
        return
    try:
        sh([py, BENCH / "chart.py", json_path, png], 300)
    except RuntimeError as e:
        error(f"chart: {e}")


# ---- main ------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="seconds-long run of every code path")
    ap.add_argument("--runs", type=int, help="rounds per comparison (default 7, TLS 3; smoke 1)")
    ap.add_argument("--no-setup", action="store_true", help="skip apt-get, builds and installs")
    ap.add_argument("--only", help="comma list of comparisons to run (echo,bulk,churn,idle,callgrind,tls,http,"
                                   "latency,many,udp; tls, http and udp are whole tables); the report then goes to "
                                   "build/bench/partial/")
    ap.add_argument("--servers", help="comma list of servers to run (same effect on the report location)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"echo", "bulk", "churn", "idle", "callgrind", "tls", "http",
                                                         "latency", "many", "udp"}
    partial = bool(args.only or args.servers)
    cfg = dict(SMOKE if args.smoke else FULL) | latency_bench.config(args.smoke)
    if args.runs:
        cfg["runs"] = cfg["tls_runs"] = args.runs
    signal.signal(signal.SIGTERM, on_term)
    atexit.register(kill_all)
    this = sys.modules[__name__]  # http_bench and udp_bench use this module's servers, processes and report helpers
    latency_bench.attach(this)  # and so does latency_bench
    global M
    M = Machine()
    nofile = raise_fd_limit()
    out_dir = BUILD / "smoke" if args.smoke else (BUILD / "partial" if partial else BENCH)
    log(f"{'smoke' if args.smoke else 'full'} run; {M.nproc} CPUs; fd limit {nofile}; "
        f"server CPU {M.server_cpu}, client CPU {M.client_cpu}" + ("" if M.pinned else " (not pinned)"))
    if nofile < cfg["idle_conns"] + 100:
        cfg["idle_conns"] = max(100, nofile - 200)
        log(f"fd limit {nofile}: idle connections lowered to {cfg['idle_conns']}")
    try:
        if not args.no_setup:
            ensure_apt()
        build(args.smoke)
    except RuntimeError as e:
        log(f"build failed: {e}")
        return 2
    try:
        keep = set(args.servers.split(",")) if args.servers else None
        # A TLS server needs what its plaintext twin needs (netcore-py-tls: the Python binding).
        servers = setup_servers(args.smoke, keep and keep | {n.removesuffix("-tls") for n in keep})
        tls_servers = setup_tls_servers(servers, args.smoke) if "tls" in only else []
        http_servers = http_bench.setup(this, servers, args.smoke) if "http" in only else []
        udp_servers = [s for s in udp_bench.setup(this, servers) if keep is None or s.name in keep
                       ] if "udp" in only else []
        servers = [s for s in servers if (keep is None or s.name in keep)] if only - {"tls", "http", "udp"} else []
        tls_servers = [s for s in tls_servers if keep is None or s.name in keep]
        http_servers = [s for s in http_servers if keep is None or s.name in keep]
        preflight(servers + tls_servers, args.smoke)
        avail = [s for s in servers if s.available]
        meta = dict(
            date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            nproc=M.nproc, cpu_model=M.cpu_model, memory=M.memory, kernel=M.kernel,
            loadavg=" ".join(f"{x:.2f}" for x in M.loadavg),
            pinning=(f"servers on CPU {M.server_cpu}, load generator on CPU {M.client_cpu} (taskset)" if M.pinned
                     else "none (fewer than 2 CPUs or no taskset)"),
            tools="; ".join([first_line(["rustc", "--version"]), first_line(["cc", "--version"]),
                             first_line(["valgrind", "--version"])]),
            smoke=args.smoke,
        )
        res: dict = {"meta": meta, "config": cfg,
                     "servers": {s.name: dict(lang=s.lang, role=s.role, available=s.available, why=s.why,
                                              version=s.version) for s in servers}}
        if tls_servers:
            res["tls"] = {"servers": {s.name: dict(lang=s.lang, role=s.role, available=s.available, why=s.why,
                                                   version=s.version, what=s.what) for s in tls_servers}}
        budget = Budget(cfg["budget_s"])
        if args.smoke:
            smoke_extras(servers, cfg, res)
        if "echo" in only:
            bench_echo(avail, cfg, res, budget)
        if "bulk" in only:
            bench_simple(avail, cfg, res, budget, "bulk",
                     ["--mode", "bulk", "--conns", 1, "--size", cfg["bulk_size"], "--window", cfg["bulk_window"],
                      "--duration", cfg["bulk_duration"], "--warmup", 0.2], "mib_per_s", "MiB/s")
        if "churn" in only:
            latency_bench.bench_churn(avail, cfg, res, budget)
        if "idle" in only:
            bench_idle(avail, cfg, res, budget)
        if "callgrind" in only:
            bench_callgrind(avail, cfg, res, budget, args.smoke)
        new_budget = Budget(cfg["new_budget_s"])
        if "latency" in only:
            latency_bench.bench_latency(avail, cfg, res, new_budget)
        if "many" in only:
            latency_bench.bench_many(avail, cfg, res, new_budget)
        if any(s.available for s in tls_servers):
            bench_tls([s for s in tls_servers if s.available], cfg, res, args.smoke)
        if http_servers:
            http_bench.run(this, http_servers, cfg, res, args.smoke)
        if udp_servers:
            udp_bench.run(this, udp_servers, cfg, res, args.smoke)
    finally:
        kill_all()
    summary = summarize(res)
    targets = (evaluate_limits(summary) + evaluate_targets(summary, cfg["echo_sizes"], res)
               + latency_bench.targets(res, PEERS))
    tls_targets = []
    if tls_servers:
        res["tls"]["summary"] = summarize(res["tls"])
        here = {s.name for s in tls_servers}
        tls_targets = evaluate_targets(res["tls"]["summary"], cfg["tls_echo_sizes"], res["tls"],
                                       [t for t in TLS_TARGETS if t[0] in here],
                                       {k: v for k, v in TLS_PEERS.items() if k in here}, extra=())
        res["tls"]["targets"] = tls_targets
    http_bench.summarize(this, res)
    res["summary"] = summary
    res["targets"] = targets
    res["errors"] = ERRORS
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = (out_dir if out_dir != BENCH else BUILD) / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1, default=str))
    make_chart(json_path, out_dir / "chart.png")
    # The chart step may have added an error: write the report last.
    res["errors"] = ERRORS
    json_path.write_text(json.dumps(res, indent=1, default=str))
    write_report(out_dir / "RESULTS.md", res, summary, servers, cfg, args.smoke, "chart.png", targets, json_path,
                 tls_servers, tls_targets, http_servers)
    log(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'chart.png'}")
    for name, measured, v in targets + tls_targets + res.get("http", {}).get("targets", []):
        if v != "NOT MEASURED":
            log(f"target {v}: {name}: {measured}")
    udp_bench.log_targets(this, res)
    if ERRORS:
        log(f"{len(ERRORS)} error(s):")
        for e in ERRORS:
            log(f"  {e}")
        return 1
    log("done, no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
