"""Draws bench/chart.png from a bench/run.py results file: the main table —
echo throughput per server (ping-pong, 50 connections, three message sizes)
and user-space instructions per echo (callgrind) — and, when the run has
them, one row more for each of: the TLS table (the same two panels), the
UDP datagram echo (datagrams per second, instructions per datagram), and
tail latency at fixed load with the many-connections run (p99 at 50 % and
80 % of the slowest server's peak; bytes per connection at 15,000).

    usage: python3 chart.py RESULTS.json OUT.png

Run by bench/run.py with an interpreter that has matplotlib.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import latency_bench  # noqa: E402  (bench/: the summaries of the comparisons it runs)
import udp_bench  # noqa: E402

ORDER = ["netcore-c", "libuv", "netcore-py", "netcore-py-aio", "uvloop", "asyncio", "netcore-node", "netcore-node-net",
         "node-net"]
TLS_ORDER = ["netcore-c-tls", "openssl", "netcore-py-tls", "uvloop-tls", "asyncio-tls", "netcore-node-tls",
             "netcore-node-net-tls", "node-tls"]
SIZE_COLORS = ["#9ecae1", "#4292c6", "#08519c"]


def size_label(n):
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def panels(ax1, ax2, part, order, sizes, cfg, what):
    """Echo throughput (ax1) and instructions per echo (ax2) of one table:
    `part` is the results file (or its "tls" part), `what` names it."""
    summary = part.get("summary", {})
    servers = [s for s in order if s in part.get("servers", {})] or order
    roles = {n: v.get("role") for n, v in part.get("servers", {}).items()}
    langs = {n: v.get("lang") for n, v in part.get("servers", {}).items()}
    x = range(len(servers))
    width = 0.8 / len(sizes)
    ymax = 0
    for i, size in enumerate(sizes):
        comp = summary.get(f"echo{size}", {})
        vals = [(comp.get(s) or {}).get("rps") for s in servers]
        xs = [xi - 0.4 + width * (i + 0.5) for xi in x]
        ax1.bar(xs, [v or 0 for v in vals], width, label=size_label(size), color=SIZE_COLORS[i % 3],
                edgecolor="black", linewidth=0.4)
        for xx, v in zip(xs, vals):
            if v:
                ymax = max(ymax, v)
                ax1.text(xx, v, f"{v / 1000:.0f}k", ha="center", va="bottom", fontsize=7.5, rotation=90)
    for xi, s in zip(x, servers):
        if not any((summary.get(f"echo{sz}", {}).get(s) or {}).get("rps") for sz in sizes):
            ax1.text(xi, 0, "not\navailable", ha="center", va="bottom", fontsize=8, color="#a00")
    ax1.set_ylim(0, (ymax or 1) * 1.18)
    ax1.set_xticks(list(x))
    crowded = len(servers) > 7
    ax1.set_xticklabels([f"{s}\n({langs.get(s, '')})" for s in servers], fontsize=8 if crowded else 9,
                        rotation=15 if crowded else 0, ha="right" if crowded else "center")
    for lbl, s in zip(ax1.get_xticklabels(), servers):
        if roles.get(s) == "netcore":
            lbl.set_fontweight("bold")
    ax1.set_ylabel("echoed messages per second (median)")
    ax1.set_title(f"{what}echo throughput — ping-pong, {cfg.get('echo_conns', 50)} connections "
                  "(higher is better)", fontsize=11)
    ax1.legend(title="message size", fontsize=9)
    ax1.grid(axis="y", alpha=0.3)
    ax1.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))

    cg = summary.get("callgrind", {})
    vals = [(cg.get(s) or {}).get("per_echo") for s in servers]
    colors = ["#08519c" if roles.get(s) == "netcore" else "#fd8d3c" for s in servers]
    ax2.bar(list(x), [v or 0 for v in vals], 0.65, color=colors, edgecolor="black", linewidth=0.4)
    top = max([v for v in vals if v] or [1])
    for xi, v in zip(x, vals):
        if v:
            ax2.text(xi, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8.5)
        else:
            ax2.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=8, color="#a00")
    ax2.set_ylim(0, top * 1.3)
    ax2.set_xticks(list(x))
    ax2.set_xticklabels(servers, rotation=35, ha="right", fontsize=9)
    for lbl, s in zip(ax2.get_xticklabels(), servers):
        if roles.get(s) == "netcore":
            lbl.set_fontweight("bold")
    ax2.set_title(f"{what}user-space instructions per echo\ncallgrind, {cfg.get('cg_conns', 8)} connections × "
                  f"{cfg.get('cg_size', 512)} B (lower is better)", fontsize=11)
    ax2.set_ylabel("instructions per echoed message")
    ax2.grid(axis="y", alpha=0.3)
    ax2.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax2.legend(handles=[plt.Rectangle((0, 0), 1, 1, color="#08519c"), plt.Rectangle((0, 0), 1, 1, color="#fd8d3c")],
               labels=["netcore", "anchor"], fontsize=9, loc="upper left")


def bars(ax, servers, roles, groups, ylabel, title, label=lambda v: f"{v:,.0f}"):
    """Grouped bars: one bar per (group, server), `groups` = [(group label,
    {server: value})]; netcore's servers' names in bold, a missing value
    marked n/a."""
    x = range(len(servers))
    width = 0.8 / len(groups)
    top = 0
    for i, (name, values) in enumerate(groups):
        xs = [xi - 0.4 + width * (i + 0.5) for xi in x]
        vals = [values.get(s) for s in servers]
        ax.bar(xs, [v or 0 for v in vals], width, label=name, color=SIZE_COLORS[i % 3], edgecolor="black",
               linewidth=0.4)
        for xx, v in zip(xs, vals):
            if v:
                top = max(top, v)
                ax.text(xx, v, label(v), ha="center", va="bottom", fontsize=7.5, rotation=90)
            else:
                ax.text(xx, 0, "n/a", ha="center", va="bottom", fontsize=7, color="#a00")
    ax.set_ylim(0, (top or 1) * 1.25)
    ax.set_xticks(list(x))
    ax.set_xticklabels(servers, rotation=25, ha="right", fontsize=8.5)
    for lbl, s in zip(ax.get_xticklabels(), servers):
        if roles.get(s) == "netcore":
            lbl.set_fontweight("bold")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    if len(groups) > 1:
        ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def udp_row(res):
    """The UDP datagram echo's row, or None when the run has no UDP table."""
    udp = res.get("udp")
    if not udp or not udp.get("echo"):
        return None
    summary = udp_bench.summarize(udp)
    servers = list(udp.get("servers", {}))
    roles = {n: v.get("role") for n, v in udp.get("servers", {}).items()}

    def metric(key):
        return [(size_label(int(size)), {s: (cell.get(s) or {}).get(key) for s in servers})
                for size, cell in summary.items()]

    def draw(ax1, ax2):
        bars(ax1, servers, roles, metric("dps"), "echoed datagrams per second (median)",
             "UDP datagram echo (higher is better)", label=lambda v: f"{v / 1000:.0f}k")
        bars(ax2, servers, roles, metric("per_dgram"), "instructions per echoed datagram",
             "UDP: user-space instructions per datagram\ncallgrind (lower is better)")
    return draw


def latency_row(res):
    """Tail latency at fixed load and the many-connections run, or None."""
    latency = latency_bench.latency_summary(res)
    many = latency_bench.many_summary(res)
    if not latency and not many:
        return None
    servers = [s for s in ORDER if s in res.get("servers", {})]
    roles = {n: v.get("role") for n, v in res.get("servers", {}).items()}

    def draw(ax1, ax2):
        groups = [(f"{load} % of the slowest peak", {s: (cells.get(s) or {}).get("p99") for s in servers})
                  for load, cells in latency.items()]
        bars(ax1, servers, roles, groups, "p99 latency, µs (median of runs)",
             "open-loop echo at fixed rates: p99 latency (lower is better)")
        count = res.get("many_conns", "many")
        bars(ax2, servers, roles, [("", {s: (many.get(s) or {}).get("bytes_per_conn") for s in servers})],
             "server RSS growth per connection, bytes", f"{count:,} connections, 1 % active: "
             "memory per connection\n(lower is better)")
    return draw


def main(src, dst):
    res = json.load(open(src))
    meta = res.get("meta", {})
    cfg = res.get("config", {})
    tls = res.get("tls")
    rows = [(res, ORDER, cfg.get("echo_sizes", [64, 512, 16384]), "")] if res.get("servers") else []
    if tls:
        rows.append((tls, TLS_ORDER, cfg.get("tls_echo_sizes", [64, 512, 16384]), "TLS 1.3: "))
    rows = rows or [(res, ORDER, [64, 512, 16384], "")]
    extra = [draw for draw in (udp_row(res), latency_row(res)) if draw is not None]
    height = len(rows) + len(extra)
    fig, axes = plt.subplots(height, 2, figsize=(15, 6.2 * height), gridspec_kw={"width_ratios": [1.7, 1]},
                             squeeze=False)
    for (ax1, ax2), (part, order, sizes, what) in zip(axes, rows):
        panels(ax1, ax2, part, order, sizes, cfg, what)
    for (ax1, ax2), draw in zip(axes[len(rows):], extra):
        draw(ax1, ax2)

    plain = res.get("servers")
    runs = f"medians of {cfg.get('runs', '?')} runs" if plain else ""
    peers = "libuv, uvloop, asyncio, Node net" if plain else ""
    if tls:
        peers += "; over TLS " if plain else ""
        peers += "OpenSSL, uvloop/asyncio ssl=, Node tls" + ("" if plain else " (TLS 1.3)")
        runs += (" (TLS " if plain else "medians of ") + f"{cfg.get('tls_runs', '?')}" + (")" if plain else " runs")
    smoke = " — SMOKE RUN, figures not meaningful" if meta.get("smoke") else ""
    fig.suptitle(f"netcore vs {peers}\n{meta.get('date', '')}, {meta.get('nproc', '?')} × "
                 f"{meta.get('cpu_model', '?')}, {runs}{smoke}", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.08 / height))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py RESULTS.json OUT.png")
    main(sys.argv[1], sys.argv[2])
