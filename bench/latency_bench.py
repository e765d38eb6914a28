"""Issue 14's comparisons 2 to 4, run by bench/run.py (which passes itself in
with attach(): its helpers, its machine M and its list of errors):

  tail latency at fixed load  the load generator's open-loop mode (a fixed
      schedule, latency from each message's due time); first every server's
      closed-loop peak at the same connections and size, then every server at
      50 % and 80 % of the slowest one's peak: p50/p90/p99/p99.9; the target
      "netcore's p99 <= each peer's in its language" at each load
  churn  accept+close churn from many loopback source addresses
      (127.0.0.2-254, IP_BIND_ADDRESS_NO_PORT), a block of them per run
      chosen with the fewest TIME_WAIT sockets, so no run inherits the
      TIME_WAIT of an earlier one and the figure is the server's
  many connections  15,000 connections open, 1 % of them with a message in
      flight at a time (each message on the next connection in turn):
      messages/s, p50/p99, server RSS at 15,000

Nothing here judges speed in a smoke run: a smoke run only checks that each
mode runs and reports.
"""

from __future__ import annotations

import resource
import select
import signal
import statistics
import subprocess
import time

# bench/run.py, set by attach().
R = None

FULL = dict(
    # Open-loop latency: the connections and message size of the peak run
    # and of the schedule; 5 interleaved rounds of 4 s after 1.5 s of warm-up
    # (at 50 % of asyncio's usual ~39k/s peak, ~78k samples per point: enough
    # for a p99.9). Five short rounds rather than three long ones: a burst of
    # other load on a shared machine spoils one round of one server, and the
    # median of five outvotes it (bench/NOTES.md, "Tail latency at low load").
    lat_conns=50,
    lat_size=64,
    lat_peak_duration=2.0,
    lat_peak_warmup=0.3,
    lat_loads=[0.5, 0.8],
    lat_runs=5,
    lat_duration=4.0,
    lat_warmup=1.5,
    # An achieved rate under this share of the target flags the run.
    lat_rate_ok=0.97,
    # Source addresses per churn or many-connections run: 31 blocks of 8 of
    # the addresses 127.0.0.2-254, so at ~4 s a run a block comes back after
    # ~2 minutes, when its TIME_WAIT (60 s) is gone. A full-speed churn run
    # (~80k connections) uses ~10k of each address's 28k ports.
    source_block=8,
    many_conns=15000,
    many_active=150,
    many_size=64,
    many_runs=3,
    many_duration=3.0,
    many_warmup=1.0,
    # Latency and many connections together: about 12 minutes expected with
    # 9 servers (measured with 8 servers and 2 s longer latency runs, 1 s
    # longer many-connection runs: latency ~10.5 s a run, 8.6 minutes in
    # all; many connections ~11.5 s a run, 4.6 minutes); churn counts in
    # run.py's budget.
    new_budget_s=25 * 60,
)
SMOKE = dict(
    FULL,
    lat_peak_duration=0.2,
    lat_peak_warmup=0.05,
    lat_runs=1,
    lat_duration=0.3,
    lat_warmup=0.1,
    many_conns=300,
    many_active=3,
    many_runs=1,
    many_duration=0.3,
    many_warmup=0.1,
    new_budget_s=5 * 60,
)

FIRST_SOURCE, LAST_SOURCE = 2, 254  # 127.0.0.x
# A latency verdict notes the load generator's own lateness above this share
# of messages: the client, not the server, was then waiting for a CPU.
LATE_NOTE = 0.05


def attach(run_module) -> None:
    global R
    R = run_module


def config(smoke: bool) -> dict:
    return dict(SMOKE if smoke else FULL)


# ---- source addresses ------------------------------------------------------------


def time_wait_by_address() -> dict[str, int]:
    """TIME_WAIT sockets per local IPv4 address (/proc/net/tcp, state 06)."""
    counts: dict[str, int] = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "06":
                    ip_hex = fields[1].split(":")[0]
                    octets = bytes.fromhex(ip_hex)[::-1]  # stored in host (little-endian) order
                    addr = ".".join(str(b) for b in octets)
                    counts[addr] = counts.get(addr, 0) + 1
    except OSError:
        pass
    return counts


class SourceBlocks:
    """Blocks of loopback source addresses; take() hands out the block with
    the fewest TIME_WAIT sockets now (ties: the one this run used longest
    ago), so a run starts on addresses no earlier run has filled."""

    def __init__(self, size: int) -> None:
        size = max(1, min(size, LAST_SOURCE - FIRST_SOURCE + 1))
        self.blocks = [(a, min(a + size - 1, LAST_SOURCE))
                       for a in range(FIRST_SOURCE, LAST_SOURCE + 1 - size + 1, size)]
        self.last_used = [0.0] * len(self.blocks)

    def take(self) -> tuple[str, int]:
        """('127.0.0.A-127.0.0.B', TIME_WAIT sockets on those addresses now)."""
        tw = time_wait_by_address()

        def waiting(i):
            a, b = self.blocks[i]
            return sum(tw.get(f"127.0.0.{x}", 0) for x in range(a, b + 1))

        i = min(range(len(self.blocks)), key=lambda i: (waiting(i), self.last_used[i]))
        self.last_used[i] = time.monotonic()
        a, b = self.blocks[i]
        return f"127.0.0.{a}-127.0.0.{b}", waiting(i)


# ---- tail latency at fixed load ------------------------------------------------------


def load_key(load: float) -> str:
    return f"{round(load * 100)}"


def bench_latency(servers, cfg, res, budget) -> None:
    out = res.setdefault("latency", {})
    conns, size = cfg["lat_conns"], cfg["lat_size"]
    peaks = out.setdefault("peak", {})
    for s in servers:
        if not budget.check(f"latency peak {s.name}"):
            return
        what = f"latency peak {s.name}"
        r = R.run_server(s, lambda rs: R.loadgen(rs, ["--mode", "pingpong", "--conns", conns, "--size", size,
                                                      "--duration", cfg["lat_peak_duration"],
                                                      "--warmup", cfg["lat_peak_warmup"]],
                                                 cfg["lat_peak_duration"] + 60, what), what)
        if r:
            peaks[s.name] = r["requests_per_s"]
            R.log(f"{what}: {r['requests_per_s']:.0f} req/s (closed loop)")
    if not peaks:
        return
    slowest = min(peaks, key=peaks.get)
    out["slowest"] = slowest
    rates = {load_key(f): f * peaks[slowest] for f in cfg["lat_loads"]}
    out["rates"] = rates
    R.log(f"latency: slowest peak {slowest} {peaks[slowest]:.0f} req/s; rates "
          + ", ".join(f"{k} %: {v:.0f}/s" for k, v in rates.items()))
    timeout = cfg["lat_warmup"] + cfg["lat_duration"] + 60
    for rnd in range(cfg["lat_runs"]):
        for key, rate in rates.items():
            if not budget.check(f"latency {key} % round {rnd + 1}"):
                return
            cell = out.setdefault(key, {})
            for s in R.rotate([s for s in servers if s.name in peaks], rnd):
                what = f"latency {key} % {s.name} run {rnd + 1}"
                args = ["--mode", "openloop", "--rate", f"{rate:.1f}", "--conns", conns, "--size", size,
                        "--duration", cfg["lat_duration"], "--warmup", cfg["lat_warmup"]]
                r = R.run_server(s, lambda rs: R.loadgen(rs, args, timeout, what), what)
                if not r:
                    continue
                entry = dict(p50=r["lat_p50_us"], p90=r["lat_p90_us"], p99=r["lat_p99_us"], p999=r["lat_p999_us"],
                             max=r["lat_max_us"], samples=r["lat_samples"], achieved=r["requests_per_s"],
                             target=rate, late=r["late_starts"], sent=r["total_messages"])
                entry["behind"] = entry["achieved"] < cfg["lat_rate_ok"] * rate
                cell.setdefault(s.name, []).append(entry)
                R.log(f"{what}: p50 {entry['p50']:.0f} p90 {entry['p90']:.0f} p99 {entry['p99']:.0f} "
                      f"p99.9 {entry['p999']:.0f} us; {entry['achieved']:.0f} of {rate:.0f}/s"
                      + (" BEHIND" if entry["behind"] else "") + f", {entry['late']} started late")


def latency_summary(res) -> dict:
    """{load key: {server: medians, runs, behind (runs below the rate)}}."""
    out = {}
    lat = res.get("latency", {})
    for key in lat.get("rates", {}):
        out[key] = {}
        for name, runs in lat.get(key, {}).items():
            d = {k: statistics.median(r[k] for r in runs) for k in ("p50", "p90", "p99", "p999", "max", "achieved")}
            d.update(n=len(runs), behind=sum(r["behind"] for r in runs), samples=min(r["samples"] for r in runs),
                     p99_range=(min(r["p99"] for r in runs), max(r["p99"] for r in runs)),
                     late=statistics.median(r["late"] / max(r["sent"], 1) for r in runs))
            out[key][name] = d
    return out


def targets(res, peers) -> list[tuple[str, str, str]]:
    """Issue 14's latency target: netcore's p99 <= each peer's, per load."""
    rows = []
    summary = latency_summary(res)
    for key, cell in summary.items():
        for nc, their_peers in peers.items():
            for peer in their_peers:
                name = f"{nc}: p99 at {key} % of the slowest peak ≤ {peer}"
                a, b = cell.get(nc), cell.get(peer)
                if not a or not b:
                    rows.append((name, "not measured", "NOT MEASURED"))
                    continue
                v = "MET" if a["p99"] <= b["p99"] else "NOT MET"
                (a0, a1), (b0, b1) = a["p99_range"], b["p99_range"]
                if a1 >= b0 and b1 >= a0 and min(a["n"], b["n"]) > 1:
                    v += " (within noise)"
                note = "".join(f"; {n} below the target rate in {d['behind']} of {d['n']} runs"
                               for n, d in ((nc, a), (peer, b)) if d["behind"])
                late = max(a["late"], b["late"])
                if late > LATE_NOTE:
                    note += f"; the load generator sent up to {late:.0%} of messages > 1 ms late (machine noise)"
                rows.append((name, f"{a['p99']:,.0f} µs vs {b['p99']:,.0f} µs{note}", v))
    return rows


# ---- churn -----------------------------------------------------------------------


def bench_churn(servers, cfg, res, budget) -> None:
    """Accept+close churn, each run from a fresh block of source addresses;
    res["churn"] keeps bench_simple's shape (value = connections/s)."""
    out = res.setdefault("churn", {})
    blocks = SourceBlocks(cfg["source_block"])
    for rnd in range(cfg["runs"]):
        if not budget.check(f"churn round {rnd + 1}"):
            return
        for s in R.rotate(servers, rnd):
            what = f"churn {s.name} run {rnd + 1}"
            spec, waiting = blocks.take()
            args = ["--mode", "churn", "--conns", cfg["churn_workers"], "--duration", cfg["churn_duration"],
                    "--warmup", 0.1, "--sources", spec]
            r = R.run_server(s, lambda rs: R.loadgen(rs, args, 90, what), what)
            if r:
                out.setdefault(s.name, []).append(dict(value=r["requests_per_s"], p50=r["lat_p50_us"],
                                                       p99=r["lat_p99_us"], sources=spec, time_wait_before=waiting))
                R.log(f"{what}: {r['requests_per_s']:.0f} connections/s from {spec} "
                      f"({waiting} TIME_WAIT there before)")


def churn_section(res, summary, names, cfg) -> list[str]:
    runs = [r for rs in res.get("churn", {}).values() for r in rs]
    inherited = max((r.get("time_wait_before", 0) for r in runs), default=0)
    L = ["## 6. Accept + close churn", "",
         f"{cfg['churn_workers']} client workers, each in a loop: connect, send 1 byte, read the echo, close; "
         f"{cfg['churn_duration']} s. Each run's connections come from {cfg['source_block']} loopback source "
         "addresses in turn (127.0.0.2-254, bound with IP_BIND_ADDRESS_NO_PORT so the port is chosen per 4-tuple), "
         "a block with no TIME_WAIT sockets left by earlier runs where one exists (most TIME_WAIT sockets a run "
         f"started with: {inherited:,}): the client's TIME_WAIT sockets (60 s each) spread over many addresses "
         "instead of filling one address's ports, so the figure is the server's.", "",
         "| server | connections/s | p50 µs | p99 µs | vs peer |", "|---|---|---|---|---|"]
    for n in names:
        d = summary.get("churn", {}).get(n)
        if not d:
            L.append(f"| {n} | n/a | | | |")
            continue
        L.append(f"| {n} | {R.fmt(d['value'])} | {R.fmt(d['p50'])} | {R.fmt(d['p99'])} | "
                 f"{R.ratio_text(summary, 'churn', n, 'value')} |")
    return L + [""]


# ---- many connections ---------------------------------------------------------------


def bench_many(servers, cfg, res, budget) -> None:
    out = res.setdefault("many", {})
    n = cfg["many_conns"]
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < n + 200:
        n = max(100, nofile - 200)
        R.log(f"fd limit {nofile}: many connections lowered to {n}")
    res.setdefault("many_conns", n)
    blocks = SourceBlocks(cfg["source_block"])
    for rnd in range(cfg["many_runs"]):
        if not budget.check(f"many connections round {rnd + 1}"):
            return
        for s in R.rotate(servers, rnd):
            what = f"many {s.name} run {rnd + 1}"
            spec, _ = blocks.take()
            r = R.run_server(s, lambda rs: many_one(rs, cfg, n, spec, what), what, stop_timeout=60)
            if r:
                out.setdefault(s.name, []).append(r)
                R.log(f"{what}: {r['rps']:.0f} msg/s, p50 {r['p50']:.0f} p99 {r['p99']:.0f} us, RSS "
                      f"{r['rss0_kib']} -> {r['rss_kib']} KiB at {n:,} ({r['connect_s']:.1f} s to open)")


def many_one(rs, cfg, n, spec, what) -> dict | None:
    rss0 = rs.rss_kib()
    argv = R.M.pin(R.M.client_cpu) + [R.LOADGEN, "--addr", rs.addr, "--mode", "many", "--conns", n,
                                      "--active", max(1, n * cfg["many_active"] // cfg["many_conns"]),
                                      "--size", cfg["many_size"], "--duration", cfg["many_duration"],
                                      "--warmup", cfg["many_warmup"], "--sources", spec]
    p = R.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 180)
        est = R.parse_json_line(p.stdout.readline() if ready else "") or {}
        rss = rs.rss_kib()
        # The server's memory while the connections take turns: the largest sample.
        deadline = time.monotonic() + cfg["many_warmup"] + cfg["many_duration"] + 120
        while p.poll() is None and time.monotonic() < deadline:
            rss = max(rss, rs.rss_kib())
            time.sleep(0.2)
        stdout, stderr = p.communicate(timeout=30)
    except (subprocess.TimeoutExpired, OSError, RuntimeError) as e:
        R.error(f"{what}: {e}")
        return None
    finally:
        R.reap(p, signal.SIGKILL)
    fin = R.parse_json_line(stdout) or {}
    if p.returncode != 0 or fin.get("errors") or est.get("conns") != n:
        R.error(f"{what}: established {est.get('conns')} of {n}; loadgen exit {p.returncode}: "
                f"{fin.get('error') or stderr[-300:]}")
        return None
    return dict(rps=fin["requests_per_s"], p50=fin["lat_p50_us"], p99=fin["lat_p99_us"], p999=fin["lat_p999_us"],
                rss0_kib=rss0, rss_kib=rss, bytes_per_conn=(rss - rss0) * 1024 / n, connect_s=est.get("elapsed_s"),
                active=fin.get("active"))


# ---- report ------------------------------------------------------------------------


def sections(res, names, cfg) -> list[str]:
    """The report's sections for tail latency and many connections."""
    L = []
    w = L.append
    lat = res.get("latency", {})
    summary = latency_summary(res)
    if lat.get("peak"):
        slowest = lat.get("slowest")
        w("## 9. Tail latency at fixed load")
        w("")
        w(f"The load generator's open-loop mode: {cfg['lat_conns']} connections × {cfg['lat_size']} B messages "
          "sent on a fixed schedule (the connections' phases staggered evenly; up to 64 in flight per connection) "
          "whatever the server does; each latency runs from the message's *due* time to its echo, so a server "
          "that stalls is charged for every message queued behind the stall (wrk2's correction of coordinated "
          "omission). The loads are fractions of the slowest server's closed-loop peak (ping-pong, same "
          f"connections and size, {cfg['lat_peak_duration']} s), measured first in this run: "
          + ", ".join(f"{k}: {R.fmt(v)}" for k, v in sorted(lat["peak"].items(), key=lambda kv: kv[1]))
          + f" messages/s; slowest {slowest}. {cfg['lat_runs']} round(s) of {cfg['lat_duration']} s after "
          f"{cfg['lat_warmup']} s of warm-up (discarded), loads and servers interleaved, medians; percentiles from "
          "an HdrHistogram (3 significant digits). p99.9 is at this machine's noise floor (timer and scheduler "
          "lateness of a shared 2-vCPU VM reaches 1-4 ms; 'late' is the share of messages the load generator "
          f"itself sent over 1 ms after their due time; above {LATE_NOTE:.0%} the client was waiting for a CPU and the "
          "run tells more of the machine than of the server, and the target rows say so): read p99.9 as a bound, "
          "not a figure of the server. "
          "A run whose achieved rate fell under "
          f"{cfg['lat_rate_ok']:.0%} of its target is flagged ⚠ (the server, or the client, could not keep up).")
        for key, rate in lat.get("rates", {}).items():
            w("")
            w(f"### {key} % of {slowest}'s peak: {R.fmt(rate)} messages/s")
            w("")
            w("| server | p50 µs | p90 µs | p99 µs | p99.9 µs (noise floor) | achieved /s | late | p99 vs peer | runs |")
            w("|---|---|---|---|---|---|---|---|---|")
            cell = summary.get(key, {})
            for n in names:
                d = cell.get(n)
                if not d:
                    w(f"| {n} | n/a | | | | | | | 0 |")
                    continue
                flag = f" ⚠ {d['behind']} of {d['n']} runs below target" if d["behind"] else ""
                w(f"| {n} | {R.fmt(d['p50'])} | {R.fmt(d['p90'])} | {R.fmt(d['p99'])} | {R.fmt(d['p999'])} | "
                  f"{R.fmt(d['achieved'])}{flag} | {d['late']:.1%} | {R.ratio_text({'lat': cell}, 'lat', n, 'p99')} "
                  f"| {d['n']} |")
        w("")
    many = res.get("many", {})
    if many:
        n_conns = res.get("many_conns", cfg["many_conns"])
        w("## 10. Many connections")
        w("")
        w(f"{n_conns:,} connections open at once (opened 64 at a time, each echoing {cfg['many_size']} B once; "
          f"from {cfg['source_block']} loopback source addresses), then {cfg['many_active'] / cfg['many_conns']:.0%} "
          f"of them ({max(1, n_conns * cfg['many_active'] // cfg['many_conns'])}) with a {cfg['many_size']} B "
          "message in flight at a time, each message on the next connection in turn (closed loop: an echo's return "
          f"starts the next message); {cfg['many_duration']} s after {cfg['many_warmup']} s warm-up, "
          f"{cfg['many_runs']} round(s), medians. Memory: the server's largest RSS sampled (every 0.2 s) while "
          "the connections take turns, and its growth per connection over the RSS before any connection.")
        w("")
        w("| server | messages/s | p50 µs | p99 µs | RSS at "
          f"{n_conns:,} MiB | bytes / connection | seconds to open | vs peer (messages/s) | runs |")
        w("|---|---|---|---|---|---|---|---|---|")
        ms = many_summary(res)
        for n in names:
            d = ms.get(n)
            if not d:
                w(f"| {n} | n/a | | | | | | | 0 |")
                continue
            w(f"| {n} | {R.fmt(d['rps'])} | {R.fmt(d['p50'])} | {R.fmt(d['p99'])} | {d['rss_kib'] / 1024:,.1f} | "
              f"{R.fmt(d['bytes_per_conn'])} | {d['connect_s']:.1f} | {R.ratio_text({'many': ms}, 'many', n, 'rps')} "
              f"| {d['n']} |")
        w("")
    return L


def many_summary(res) -> dict:
    return {name: {k: statistics.median(r[k] for r in runs)
                   for k in ("rps", "p50", "p99", "rss_kib", "bytes_per_conn", "connect_s")} | {"n": len(runs)}
            for name, runs in res.get("many", {}).items()}
