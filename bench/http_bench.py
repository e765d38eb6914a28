"""The HTTP comparison of bench/run.py (issue 13): HTTP servers that nobody
here wrote, run unchanged over netcore's familiar layers and over their usual
event loops, driven by wrk.

- Python: uvicorn (bench/anchors/uvicorn_hello.py, a one-route ASGI app)
  with its httptools and its h11 HTTP Protocol, each on netcore.aio's event
  loop (netcore's transports), on uvloop and on asyncio's selector loop.
- Node: Node's own http.createServer() (bench/anchors/node_http_hello.js)
  fed by require('netcore').net sockets ('connection' events), and listening
  itself (Node's own `net`).

wrk (Debian's package) runs pinned to the load generator's CPU: one thread,
keep-alive connections, a warm-up run, then the measured run; requests/s and
latency percentiles from its --latency report. Any socket error or non-2xx
answer in a run is an error of the run, and every run first checks the
server's answer with one GET.

bench/run.py calls setup() (after its own servers are set up), run() and
section(); --only http runs this comparison alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from types import ModuleType

# uvicorn and its HTTP parsers, pinned, installed into the benchmark's venv.
PIP = ["uvicorn==0.54.0", "httptools==0.9.0", "h11==0.16.0"]
BODY = b"Hello, world!\n"
# event loop -> (the module it needs, the echo server of the same interpreter and loop, for its version)
LOOPS = {"netcore": ("netcore.aio", "netcore-py"), "uvloop": ("uvloop", "uvloop"), "asyncio": ("asyncio", "asyncio")}
PROTOCOLS = ("httptools", "h11")
# The issue's targets: each netcore layer's requests/s >= its peers' with the same server code.
PEERS = {f"netcore-aio-{p}": [f"uvloop-{p}", f"asyncio-{p}"] for p in PROTOCOLS} | {"netcore-node-http": ["node-http"]}
# Whole seconds: wrk takes no fractions. warmup 0: no warm-up run.
# min_rounds: one round's requests/s move by up to ±30 % on a shared machine
# (other load, not the server), so three rounds' median could flip a verdict.
FULL = dict(conns=50, duration=3, warmup=1, min_rounds=5)
SMOKE = dict(conns=4, duration=1, warmup=0, min_rounds=1)


def apt_missing() -> list[str]:
    """The Debian packages this comparison needs that are not installed."""
    return [] if shutil.which("wrk") else ["wrk"]


def python_name(loop: str, protocol: str) -> str:
    return f"{'netcore-aio' if loop == 'netcore' else loop}-{protocol}"


def setup(b: ModuleType, plain: list, smoke: bool) -> list:
    """The HTTP servers (bench/run.py's Server objects), unavailable where
    their interpreter, package or wrk is missing. All Python servers run on
    one interpreter, the first of the benchmark's that has netcore, so they
    differ only in the event loop; outside smoke runs uvicorn is installed
    into the benchmark's venv."""
    by = {s.name: s for s in plain}
    anchors = b.BENCH / "anchors"
    if b.VENV_PY.exists() and not smoke:
        try:
            b.sh([b.VENV_PY, "-m", "pip", "install", "-q", *PIP], 900)
        except RuntimeError as e:
            b.log(f"uvicorn: {e}")

    def imports(py: str, modules: str) -> bool:
        return b.sh([py, "-c", f"import {modules}"], 60, check=False, quiet=True).returncode == 0

    candidates = [str(b.VENV_PY), by["netcore-py"].argv[0], str(b.ROOT / "build" / "venv-python" / "bin" / "python")]
    py = next((p for p in candidates if Path(p).exists() and imports(p, "netcore, uvicorn")), None)
    servers = []
    for protocol in PROTOCOLS:
        for loop, (module, twin) in LOOPS.items():
            srv = b.Server(python_name(loop, protocol), "Python", "netcore" if loop == "netcore" else "anchor",
                           [py or "python3", anchors / "uvicorn_hello.py", "--loop", loop, "--http", protocol],
                           f"bench/anchors/uvicorn_hello.py --loop {loop} --http {protocol} (uvicorn, unchanged)")
            if py is None:
                srv.unavailable("no interpreter has both netcore and uvicorn (bindings/python not built, or "
                                "uvicorn not installed)")
            elif not imports(py, f"{module}, {protocol}"):
                srv.unavailable(f"{py} cannot import {module} and {protocol}" + (" (smoke runs install nothing)"
                                                                                   if smoke else ""))
            else:
                uv = b.first_line([py, "-c", f"import uvicorn, {protocol}; print(uvicorn.__version__, "
                                   f"getattr({protocol}, '__version__', '?'))"]).split()
                srv.version = f"uvicorn {uv[0]}, {protocol} {uv[-1]}; {by[twin].version}"
            servers.append(srv)
    node = by["node-net"]
    for name, flag, role, what in (
            ("netcore-node-http", ["--netcore"], "netcore",
             "bench/anchors/node_http_hello.js --netcore (http.createServer fed by require('netcore').net)"),
            ("node-http", [], "anchor", "bench/anchors/node_http_hello.js (http.createServer, Node's own net)")):
        srv = b.Server(name, "Node", role, [node.argv[0], anchors / "node_http_hello.js", *flag], what)
        twin = by["netcore-node-net" if flag else "node-net"]
        srv.version = twin.version
        if not twin.available:
            srv.unavailable(twin.why)
        servers.append(srv)
    if not shutil.which("wrk"):
        for srv in servers:
            if srv.available:
                srv.unavailable("wrk is not installed (Debian package wrk)")
    return servers


def parse_duration_us(text: str) -> float:
    """wrk's '812.00us' / '1.23ms' / '2.00s' in microseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests/s, requests, latency p50/p99 (µs) and the errors wrk reported."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in ", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and total and p50 and p99):
        raise ValueError("no Requests/sec, request count or latency distribution in wrk's output")
    problems = []
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock and any(int(n) for n in sock.groups()):
        problems.append(sock.group(0))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        problems.append(bad.group(0))
    return dict(value=float(rps.group(1)), requests=int(total.group(1)), p50=parse_duration_us(p50.group(1)),
                p99=parse_duration_us(p99.group(1)), problems=problems)


def wrk(b: ModuleType, rs, conns: int, seconds: int, what: str) -> dict | None:
    argv = b.M.pin(b.M.client_cpu) + ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                                      f"http://{rs.addr}/"]
    try:
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=seconds + 60,
                           stdin=subprocess.DEVNULL)
        res = parse_wrk(r.stdout)
    except subprocess.TimeoutExpired:
        b.error(f"{what}: wrk timed out")
        return None
    except ValueError as e:
        b.error(f"{what}: wrk exit {r.returncode}: {e}: {(r.stdout + r.stderr).strip()[-300:]}")
        return None
    if r.returncode != 0 or res["problems"] or res["requests"] == 0:
        b.error(f"{what}: wrk exit {r.returncode}, {res['requests']} requests: {'; '.join(res['problems'])}")
        return None
    return res


def check_answer(rs) -> str | None:
    """One GET: None when the answer is the app's, else what is wrong."""
    try:
        with urllib.request.urlopen(f"http://{rs.addr}/", timeout=10) as r:
            body = r.read()
            if r.status != 200 or body != BODY:
                return f"GET / answered {r.status} {body[:80]!r}"
    except OSError as e:
        return f"GET / failed: {e}"
    return None


def run(b: ModuleType, servers: list, cfg: dict, res: dict, smoke: bool) -> None:
    """cfg['runs'] rounds (at least min_rounds) of every available server in
    turn (order rotated each round); results under res['http']."""
    h = SMOKE if smoke else FULL
    out = res.setdefault("http", {}).setdefault("runs", {})
    res["http"]["config"] = h
    budget = b.Budget(cfg["budget_s"])
    avail = [s for s in servers if s.available]
    for rnd in range(max(cfg["runs"], h["min_rounds"])):
        if not budget.check(f"http round {rnd + 1}"):
            return
        for s in b.rotate(avail, rnd):
            what = f"http {s.name} run {rnd + 1}"

            def go(rs, what=what):
                wrong = check_answer(rs)
                if wrong:
                    b.error(f"{what}: {wrong}")
                    return None
                if h["warmup"] and wrk(b, rs, h["conns"], h["warmup"], what + " warm-up") is None:
                    return None
                c0 = rs.cpu_seconds()
                r = wrk(b, rs, h["conns"], h["duration"], what)
                if r is not None:
                    r["cpu_us"] = (rs.cpu_seconds() - c0) / r["requests"] * 1e6
                return r

            r = b.run_server(s, go, what, stop_timeout=15)
            if r:
                out.setdefault(s.name, []).append(r)
                b.log(f"{what}: {r['value']:.0f} requests/s, p50 {r['p50']:.0f} us, p99 {r['p99']:.0f} us, "
                      f"{r['cpu_us']:.0f} server CPU us/request")


def summarize(b: ModuleType, res: dict) -> None:
    """Medians, and the targets, into res['http']."""
    http = res.get("http")
    if not http:
        return
    runs = http.get("runs", {})
    summary = {"http": {n: {k: b.med(rs, k) for k in ("value", "p50", "p99", "cpu_us")} | {"n": len(rs)}
                        for n, rs in runs.items()}}
    http["summary"] = summary
    http["targets"] = b.evaluate_targets(summary, [], {"http": runs}, [], PEERS,
                                         extra=(("http", "value", "HTTP requests/s"),))


def section(b: ModuleType, res: dict, servers: list) -> list[str]:
    """The report's HTTP section."""
    http = res.get("http", {})
    h = http.get("config", FULL)
    summary = http.get("summary", {})
    L = ["## 8. HTTP (wrk)", ""]
    w = L.append
    w("Issue 13's proof with code nobody here wrote: uvicorn (PyPI) serving a one-route ASGI app with its httptools "
      "and its h11 HTTP Protocol, unchanged, on netcore.aio's event loop (`loop=\"netcore.aio:new_event_loop\"`: "
      "netcore's transports), on uvloop and on asyncio; Node's own `http.createServer()` fed by "
      "`require('netcore').net` sockets (`server.emit('connection', socket)`) and listening itself. "
      f"`wrk -t1 -c{h['conns']} --latency` on the load generator's CPU, {h['warmup']} s warm-up run, then "
      f"{h['duration']} s measured (keep-alive); every answer \"Hello, world!\\n\" (checked once per run), "
      "any socket error or non-2xx answer fails the run. Server CPU: its utime+stime over the measured run "
      "(all threads, kernel included) per request: less sensitive than requests/s to the other load on a shared "
      "machine. Medians of the rounds.")
    w("")
    w("| server | what | version | requests/s | p50 µs | p99 µs | server CPU µs / request (lower is better) | "
      "vs peer | runs |")
    w("|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        if not s.available:
            w(f"| {s.name} | {s.what} | {s.version} | **not available**: {s.why} | | | | | 0 |")
            continue
        d = summary.get("http", {}).get(s.name)
        if not d:
            w(f"| {s.name} | {s.what} | {s.version} | n/a | | | | | 0 |")
            continue
        cpu = f"{b.fmt(d['cpu_us'], ',.1f')} ({b.ratio_text(summary, 'http', s.name, 'cpu_us', peers=PEERS)})"
        w(f"| {s.name} | {s.what} | {s.version} | {b.fmt(d['value'])} | {b.fmt(d['p50'])} | {b.fmt(d['p99'])} | "
          f"{cpu.replace(' ()', '')} | {b.ratio_text(summary, 'http', s.name, 'value', peers=PEERS)} | {d['n']} |")
    w("")
    w("HTTP targets (issue 13), from the medians above:")
    w("")
    L.extend(b.targets_block(http.get("targets", [])))
    return L
