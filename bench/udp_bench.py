"""The UDP comparison of the benchmark suite (issue 14), run by bench/run.py.

Datagram echo at 64 B and 1,200 B (QUIC-sized) with many datagrams in flight:
the load generator's UDP mode (bench/loadgen/src/udp.rs) keeps SOCKETS
connected sockets with DEPTH datagrams each in flight and checks every echoed
byte. Measured per server: datagrams echoed per second (median of the
rounds), server CPU seconds per million datagrams, datagrams lost (not echoed
within the load generator's loss timeout, and the kernel's UDP
RcvbufErrors counted over the run, which covers both ends of loopback) and
user-space instructions per datagram under callgrind: a run of W + N
datagrams minus a baseline run of W, so the figure is the steady state's.
W is a warm-up of as many datagrams as N: V8 compiles the hot JavaScript
with TurboFan during the first thousands of datagrams, which with a baseline
of one window (as the TCP figure is made) counted 3,000-5,000 compiler
instructions per datagram in a 20,000-datagram run. Every server gets the
same warm-up. The baseline server stops when its warm-up ends: idle, V8
runs its memory reducer's full collection, which the loaded run does not,
and which made the difference up to 2,000 instructions per datagram too
small. A Node figure still moves by up to ~2,300 instructions per datagram
between runs (the loaded runs agree within 3 %; the baseline's end catches a
collection or a compile job or not).

Servers: netcore's C, Python and Node UDP echo examples (the raw models:
examples/c/udp_echo.c, examples/python/udp_echo.py,
examples/node/udp_echo.js) and netcore's `dgram` layer, against libuv with
UV_UDP_RECVMMSG (bench/anchors/libuv_echo.c --udp), asyncio and uvloop
DatagramProtocol (bench/anchors/asyncio_echo.py / uvloop_echo.py --udp) and
Node `dgram` (bench/anchors/node_dgram_echo.js). Every server keeps the
kernel's default SO_RCVBUF.

The functions take `R`, the bench/run.py module, for its helpers (servers,
processes, callgrind, logging).
"""

from __future__ import annotations

import statistics
from pathlib import Path

SIZES = [64, 1200]
SOCKETS = 4
DEPTH = 16  # per socket: 64 datagrams in flight, which the default SO_RCVBUF holds at 1,200 B

# (netcore server, peer, max ratio of instructions per datagram)
TARGETS = [
    ("netcore-c-udp", "libuv-udp", 0.5),
    ("netcore-py-udp", "uvloop-udp", 0.6),
    ("netcore-node-udp", "node-dgram", 0.3),
]
PEERS = {
    "netcore-c-udp": ["libuv-udp"],
    "netcore-py-udp": ["uvloop-udp", "asyncio-udp"],
    "netcore-node-udp": ["node-dgram"],
    "netcore-node-dgram": ["node-dgram"],
}


def config(cfg: dict, smoke: bool) -> dict:
    """Run lengths: the suite's rounds, 3 s per point (smoke: 0.25 s, C
    servers only under callgrind); cg_warmup datagrams before the counted
    cg_messages."""
    if smoke:
        return dict(runs=1, duration=0.25, warmup=0.05, cg_messages=500, cg_warmup=500, cg_runs=1, cg_all=False)
    return dict(runs=min(cfg["runs"], 5), duration=3.0, warmup=0.3, cg_messages=20000, cg_warmup=20000, cg_runs=1,
                cg_all=True)


def setup(R, plain: list) -> list:
    """The UDP servers, with the interpreters (and availability) of their TCP twins."""
    by = {s.name: s for s in plain}
    ex = R.ROOT / "examples"
    node = by["node-net"].argv[0]
    dgram = R.BENCH / "anchors" / "node_dgram_echo.js"

    def udp(name, lang, role, argv, what, twin):
        srv = R.Server(name, lang, role, argv, what)
        srv.version = by[twin].version
        if not by[twin].available:
            srv.unavailable(by[twin].why)
        return srv

    servers = [
        udp("netcore-c-udp", "C", "netcore", [R.ROOT / "build" / "examples" / "udp_echo"],
            "examples/c/udp_echo.c (netcore C API, nc_poll, nc_send_batch)", "netcore-c"),
        udp("libuv-udp", "C", "anchor", [*by["libuv"].argv, "--udp"],
            "bench/anchors/libuv_echo.c --udp (UV_UDP_RECVMMSG, uv_udp_try_send)", "libuv"),
        udp("netcore-py-udp", "Python", "netcore", [by["netcore-py"].argv[0], ex / "python" / "udp_echo.py"],
            "examples/python/udp_echo.py (netcore Python binding, Loop.poll, send_batch)", "netcore-py"),
        udp("uvloop-udp", "Python", "anchor", [*by["uvloop"].argv, "--udp"],
            "bench/anchors/uvloop_echo.py --udp (DatagramProtocol on uvloop)", "uvloop"),
        udp("asyncio-udp", "Python", "anchor", [*by["asyncio"].argv, "--udp"],
            "bench/anchors/asyncio_echo.py --udp (DatagramProtocol, create_datagram_endpoint)", "asyncio"),
        udp("netcore-node-udp", "Node", "netcore", [node, ex / "node" / "udp_echo.js"],
            "examples/node/udp_echo.js (netcore Node binding, loop.on('datagram'), sendBatch)", "netcore-node"),
        udp("node-dgram", "Node", "anchor", [node, dgram],
            "bench/anchors/node_dgram_echo.js (dgram.createSocket, 'message' -> send)", "node-net"),
        udp("netcore-node-dgram", "Node", "netcore", [node, dgram, "--netcore"],
            "bench/anchors/node_dgram_echo.js --netcore (the same code on require('netcore').dgram)",
            "netcore-node-net"),
    ]
    if not (R.ROOT / "build" / "examples" / "udp_echo").exists() and servers[0].available:
        servers[0].unavailable("build/examples/udp_echo was not built (make examples)")
    return servers


def client_args(size: int) -> list:
    return ["--mode", "udp", "--sockets", SOCKETS, "--depth", DEPTH, "--size", size]


def rcvbuf_errors() -> int | None:
    """The kernel's UDP RcvbufErrors counter (all sockets, both ends of loopback)."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return None


def preflight(R, servers: list) -> None:
    """A server that cannot echo a few datagrams is 'not available' (an error for C)."""
    for s in servers:
        if not s.available:
            continue
        errs = len(R.ERRORS)
        what = f"preflight {s.name}"
        res = R.run_server(s, lambda rs: R.loadgen(rs, client_args(64) + ["--messages", 100], 30, what), what)
        if res is None or len(R.ERRORS) > errs:
            why = "; ".join(R.ERRORS[errs:])[:400]
            del R.ERRORS[errs:]
            if s.lang == "C":
                R.error(f"{s.name} failed its preflight: {why}")
            s.unavailable(f"failed to start or echo datagrams: {why}")


def echo_round(R, servers: list, ucfg: dict, out: dict, rnd: int) -> None:
    for size in SIZES:
        cell = out.setdefault(str(size), {})
        for s in R.rotate(servers, rnd):
            what = f"udp {size} B {s.name} run {rnd + 1}"

            def go(rs, size=size, what=what):
                c0, e0 = rs.cpu_seconds(), rcvbuf_errors()
                r = R.loadgen(rs, client_args(size) + ["--duration", ucfg["duration"], "--warmup", ucfg["warmup"]],
                              ucfg["duration"] + ucfg["warmup"] + 60, what)
                c1, e1 = rs.cpu_seconds(), rcvbuf_errors()
                if r is None:
                    return None
                return dict(dps=r["datagrams_per_s"], p50=r["lat_p50_us"], p99=r["lat_p99_us"], lost=r["lost"],
                            late=r["late"], echoed=r["echoed"], cpu_s=c1 - c0,
                            cpu_per_M=(c1 - c0) / max(r["echoed"], 1) * 1e6,
                            rcvbuf_errors=None if e0 is None or e1 is None else e1 - e0)

            r = R.run_server(s, go, what)
            if r and r["echoed"] == 0:
                R.error(f"{what}: not one datagram echoed")
            elif r:
                cell.setdefault(s.name, []).append(r)
                R.log(f"{what}: {r['dps']:,.0f} datagrams/s, {r['cpu_per_M']:.2f} CPU s/M, lost {r['lost']}, "
                      f"RcvbufErrors +{r['rcvbuf_errors']}")


def callgrind(R, servers: list, ucfg: dict, out: dict) -> None:
    valgrind = R.shutil.which("valgrind")
    if not valgrind:
        R.error("valgrind is not installed: no UDP instruction counts")
        return
    cgdir = R.BUILD / "callgrind"
    cgdir.mkdir(parents=True, exist_ok=True)
    base = SOCKETS * DEPTH + ucfg["cg_warmup"]
    todo = [s for s in servers if ucfg["cg_all"] or s.lang == "C"]
    for rnd in range(ucfg["cg_runs"]):
        for size in SIZES:
            for s in R.rotate(todo, rnd):
                entry = R.callgrind_one(s, valgrind, cgdir, rnd, SOCKETS, size, base + ucfg["cg_messages"], base,
                                        mode_args=client_args(size), tag=f"-{size}", idle_base=False)
                if entry:
                    out.setdefault(str(size), {}).setdefault(s.name, []).append(entry)
                    R.log(f"callgrind {s.name} {size} B run {rnd + 1}: {entry['per_echo']:.0f} instructions/datagram")


def run(R, servers: list, cfg: dict, res: dict, smoke: bool) -> None:
    """Runs the UDP comparison into res["udp"] and evaluates its targets."""
    ucfg = config(cfg, smoke)
    preflight(R, servers)
    u = res.setdefault("udp", {})
    u["config"] = dict(ucfg, sizes=SIZES, sockets=SOCKETS, depth=DEPTH)
    u["servers"] = {s.name: dict(lang=s.lang, role=s.role, available=s.available, why=s.why, version=s.version,
                                 what=s.what) for s in servers}
    avail = [s for s in servers if s.available]
    for rnd in range(ucfg["runs"]):
        echo_round(R, avail, ucfg, u.setdefault("echo", {}), rnd)
    callgrind(R, avail, ucfg, u.setdefault("callgrind", {}))
    u["summary"] = summarize(u)
    u["targets"] = evaluate(u["summary"], u)


def summarize(u: dict) -> dict:
    """{size: {server: {metric: median}}}."""
    s: dict = {}
    for size in SIZES:
        cell = s.setdefault(str(size), {})
        for name, runs in u.get("echo", {}).get(str(size), {}).items():
            cell[name] = {k: statistics.median(r[k] for r in runs) for k in ("dps", "p50", "p99", "cpu_per_M")}
            cell[name].update(lost=sum(r["lost"] for r in runs), n=len(runs), dps_range=(
                min(r["dps"] for r in runs), max(r["dps"] for r in runs)),
                rcvbuf_errors=sum(r["rcvbuf_errors"] or 0 for r in runs))
        for name, runs in u.get("callgrind", {}).get(str(size), {}).items():
            cell.setdefault(name, {})["per_dgram"] = statistics.median(r["per_echo"] for r in runs)
    return s


def evaluate(summary: dict, u: dict) -> list[tuple[str, str, str]]:
    """[(target, measured, verdict)]: instructions per datagram against the
    issue's ratios and datagrams/s against every peer, at each size."""
    rows = []
    for size in SIZES:
        cell = summary.get(str(size), {})
        label = f"{size:,} B"
        for nc, peer, ratio in TARGETS:
            a, b = cell.get(nc, {}).get("per_dgram"), cell.get(peer, {}).get("per_dgram")
            name = f"{nc}: instructions/datagram at {label} ≤ {ratio}× {peer}"
            if a is None or b is None:
                rows.append((name, "not measured", "NOT MEASURED"))
            else:
                rows.append((name, f"{a:,.0f} vs {b:,.0f} = {a / b:.2f}×", "MET" if a <= ratio * b else "NOT MET"))
        for nc, peers in PEERS.items():
            for peer in peers:
                a, b = cell.get(nc, {}), cell.get(peer, {})
                name = f"{nc}: datagrams/s at {label} ≥ {peer}"
                if "dps" not in a or "dps" not in b:
                    rows.append((name, "not measured", "NOT MEASURED"))
                    continue
                v = "MET" if a["dps"] >= b["dps"] else "NOT MET"
                (a0, a1), (b0, b1) = a["dps_range"], b["dps_range"]
                if min(a["n"], b["n"]) > 1 and a1 >= b0 and b1 >= a0:
                    v += " (within noise)"
                rows.append((name, f"{a['dps']:,.0f} vs {b['dps']:,.0f} = {a['dps'] / b['dps']:.2f}×", v))
    return rows


def report_section(R, res: dict) -> list[str]:
    """The UDP section of RESULTS.md (nothing when the comparison did not run)."""
    u = res.get("udp")
    if not u or "summary" not in u:
        return []
    c, summary = u["config"], u["summary"]
    L = ["## UDP datagram echo", "",
         f"{c['sockets']} client sockets × {c['depth']} datagrams in flight each, {c['duration']} s per point after "
         f"{c['warmup']} s of warm-up, median of {c['runs']} rounds; instructions per datagram from "
         f"{c['cg_messages']:,} datagrams under callgrind after {c['cg_warmup']:,} of warm-up (a run of both "
         "minus a run of the warm-up alone) "
         f"({c['cg_runs']} run{'s' if c['cg_runs'] > 1 else ''}). Every server keeps the kernel's default "
         "SO_RCVBUF. Lost: datagrams the load generator saw no echo of within its loss timeout, summed over the "
         "rounds; RcvbufErrors: the kernel's counter over the same runs (both ends of loopback).", ""]
    names = list(u["servers"])
    L += ["| server | " + " | ".join(f"{sz:,} B datagrams/s | {sz:,} B instr/datagram | {sz:,} B CPU s/M"
                                      for sz in c["sizes"]) + " | lost (RcvbufErrors) |",
          "|---|" + "---|" * (3 * len(c["sizes"]) + 1)]
    for n in names:
        info = u["servers"][n]
        if not info["available"]:
            L.append(f"| {n} | not available: {info['why'][:120]} |" + " |" * (3 * len(c["sizes"])))
            continue
        cells, lost, rcv = [], 0, 0
        for sz in c["sizes"]:
            d = summary.get(str(sz), {}).get(n, {})
            cells += [R.fmt(d.get("dps")), R.fmt(d.get("per_dgram")), R.fmt(d.get("cpu_per_M"), ",.2f")]
            lost += d.get("lost", 0)
            rcv += d.get("rcvbuf_errors", 0)
        L.append(f"| {n} | " + " | ".join(cells) + f" | {lost:,} ({rcv:,}) |")
    L += ["", "Servers:", ""]
    L += [f"- **{n}**: {info['what']}; {info['version']}" for n, info in u["servers"].items()]
    L += ["", "### UDP targets", ""]
    L += R.targets_block(u["targets"])
    return L


def log_targets(R, res: dict) -> None:
    for name, measured, v in res.get("udp", {}).get("targets", []):
        if v != "NOT MEASURED":
            R.log(f"target {v}: {name}: {measured}")

