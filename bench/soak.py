#!/usr/bin/env python3
"""netcore's soak test (`make soak`; not part of `make test` or CI).

Starts the C, Python and Node echo servers (examples/*/echo_server*) and
the same-shaped servers on the layers users already know: asyncio's
documented echo Protocol on netcore.aio, and Node's documented
`socket.pipe(socket)` server on netcore's `net` layer (bench/anchors/). Each
listens on 127.0.0.1:0 and follows bench/run.py's server contract (one line
`listening on HOST:PORT`, exit 0 on SIGINT). For SOAK_SECS seconds
(default 600), runs a swarm of SOAK_CONNS (default 50) concurrent clients
against each. Every client connection is a session of:

  - random sizes: each round sends 1 B .. 1 MiB (log-uniform), in chunks,
    then waits for the whole echo before the next round (1 to 4 rounds);
  - random pauses: between chunks the client may stop writing, and it may
    stop reading for a while (so the server's send queue fills and its flow
    control has to hold the bytes);
  - an ending drawn at random: a normal close after the last echo, a
    half-close (shutdown(SHUT_WR) after the last bytes, then read the rest
    of the echo until the server's EOF), or a reset (SO_LINGER 0 close at a
    random point mid-stream; in half of them the client reads nothing, and
    resets at the latest once the server stops taking its bytes);
  - then the client reconnects at once (a new session on the same slot).

With SOAK_TLS=1 the same sessions run over TLS against the TLS echo servers
(TLS_SERVERS; test certificates made into build/soak/certs): the client
verifies the certificate, its half-close is close_notify, and the server's
echo must end with its own close_notify (a bare TCP EOF is an error).

Every byte is checked: each session sends a stream drawn from its own seeded
generator and compares the echo with it. A byte that differs is corrupted;
a byte sent and never echoed back (the server closed early, or no progress
for STALL_SECS) is lost, except after our own reset. Server RSS
(/proc/PID/status VmRSS) is sampled every second.

RSS verdict rule ("flat after warm-up"): warm-up is the first
min(60 s, SOAK_SECS / 5); W = min(60 s, a third of the rest). The median of
the last W seconds may exceed the median of the first W seconds after
warm-up by at most max(10 %, 2 MiB).

Writes SOAK.md at the repository root for a run of at least 600 s, else
build/soak/SOAK.md (short development runs do not replace the committed
result). Exit status 0 when every server had 0 lost and 0 corrupted bytes,
flat RSS, no stall and exited 0; 1 otherwise. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import platform
import queue
import random
import re
import selectors
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECS = float(os.environ.get("SOAK_SECS", "600"))
SOAK_CONNS = int(os.environ.get("SOAK_CONNS", "50"))
# SOAK_TLS=1: the same soak over TLS, against the TLS echo servers (TLS_SERVERS).
SOAK_TLS = os.environ.get("SOAK_TLS", "") == "1"
# SOAK_SERVERS: a comma list of servers to run (default all of SERVERS, or TLS_SERVERS).
# A session with no byte in or out for this long is stalled: its unechoed
# bytes count as lost (a live echo server never lets this happen).
STALL_SECS = 60.0
# After SOAK_SECS no new session starts; running ones get this long to end.
DRAIN_SECS = 120.0
MAX_ROUND = 1 << 20
CHUNK = 64 << 10

SERVERS = {
    "C": [ROOT / "build" / "examples" / "echo_server"],
    "Python": [ROOT / "build" / "venv-python" / "bin" / "python", ROOT / "examples" / "python" / "echo_server.py"],
    "Node": ["node", ROOT / "examples" / "node" / "echo_server.js"],
    "netcore.aio": [ROOT / "build" / "venv-python" / "bin" / "python", ROOT / "bench" / "anchors" / "netcore_aio_echo.py"],
    "Node net layer": ["node", ROOT / "bench" / "anchors" / "node_net_echo.js", "--netcore"],
}
# The same servers over TLS (certificates from tests/tls/make-certs.sh, made in build/soak/certs).
TLS_SERVERS = {
    "C": [ROOT / "build" / "examples" / "tls_echo_server"],
    "Python": [SERVERS["Python"][0], ROOT / "examples" / "python" / "tls_echo_server.py"],
    "Node": ["node", ROOT / "examples" / "node" / "tls_echo_server.js"],
    "netcore.aio": [*SERVERS["netcore.aio"], "--tls"],
    "Node tls layer": [*SERVERS["Node net layer"], "--tls"],
}
CERTS = ROOT / "build" / "soak" / "certs"


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- a session's byte stream: plaintext or TLS ------------------------------------


class PlainLink:
    """The socket itself."""

    ready = True  # for data (TLS: once the handshake is done)

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: memoryview) -> int:
        return self.sock.send(data)

    def recv(self) -> bytes:
        return self.sock.recv(256 << 10)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def flush(self) -> None:
        pass

    def has_output(self) -> bool:
        return False

    def can_send(self) -> bool:
        return True


class TlsLink:
    """TLS on the socket: an ssl.SSLObject on memory BIOs, so the session's
    selector loop drives the handshake, the records and close_notify. Raises
    BlockingIOError as a non-blocking socket does; ciphertext the socket did
    not take waits in `out` (at most one CHUNK's records: `send` waits for it)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.out = b""
        self.ready = False  # handshake done
        self.eof = False  # the socket's EOF was given to the TLS object
        self.closed = False  # the server's close_notify came

    def flush(self) -> None:
        self.out += self.outgoing.read()
        if self.out:
            try:
                self.out = self.out[self.sock.send(self.out):]
            except BlockingIOError:
                pass

    def has_output(self) -> bool:
        return bool(self.out)

    def can_send(self) -> bool:
        return self.ready and not self.out

    def handshake(self) -> bool:
        if not self.ready:
            try:
                self.tls.do_handshake()
                self.ready = True
            except ssl.SSLWantReadError:
                pass
            self.flush()
        return self.ready

    def send(self, data: memoryview) -> int:
        self.flush()
        if not self.handshake() or self.out:
            raise BlockingIOError
        n = self.tls.write(data)
        self.flush()
        return n

    def recv(self) -> bytes:
        """Plaintext read; b"" once the server's close_notify came (a bare
        TCP EOF raises ssl.SSLEOFError: the server left without one)."""
        if self.closed:
            return b""
        if not self.eof:
            chunk = self.sock.recv(256 << 10)  # BlockingIOError: nothing came
            if chunk:
                self.incoming.write(chunk)
            else:
                self.eof = True
                self.incoming.write_eof()
        if not self.handshake():
            raise BlockingIOError
        parts = []
        try:
            while not self.closed:
                parts.append(self.tls.read(256 << 10))
                # close_notify: b"", or SSLZeroReturnError once ours went too.
                self.closed = not parts[-1]
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self.closed = True
        self.flush()
        if parts or self.closed:
            return b"".join(parts)
        raise BlockingIOError

    def shutdown_write(self) -> None:
        """close_notify: TLS's half-close (the server's echo still comes)."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self.flush()


# ---- one client session ---------------------------------------------------------


class Session:
    """One connection of one swarm slot: rounds of send + verified echo, then
    a normal close, a half-close or a reset."""

    def __init__(self, swarm: "Swarm", slot: int, number: int) -> None:
        self.swarm = swarm
        self.slot = slot
        rng = random.Random(f"{swarm.name}/{slot}/{number}")
        self.rng = rng
        self.stream = random.Random(rng.getrandbits(64))  # the bytes this session sends
        self.ending = rng.choices(["close", "half-close", "reset"], weights=[5, 3, 2])[0]
        self.rounds = rng.randint(1, 4) if self.ending == "close" else 1
        self.data = memoryview(b"")
        self.sent = 0  # bytes of `data` sent
        self.echoed = 0  # bytes of `data` echoed back and verified
        self.reset_at = -1  # reset once this many bytes of the round are sent
        self.deaf = False  # a reset round that reads nothing: it resets once its writes block, if not before
        self.write_pause_until = 0.0
        self.read_pause_until = 0.0
        self.last_progress = time.monotonic()
        self.shut = False  # our write side is shut down (half-close)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(swarm.addr)
        self.link = TlsLink(self.sock, swarm.tls) if swarm.tls else PlainLink(self.sock)
        self.connected = False
        self.watching = 0  # the events registered with the selector
        self.watch(time.monotonic())
        swarm.stats["connections"] += 1
        if number > 0:
            swarm.stats["reconnects"] += 1

    def next_round(self) -> None:
        size = min(MAX_ROUND, int(2 ** self.rng.uniform(0, 20)))
        self.data = memoryview(self.stream.randbytes(size))
        self.sent = self.echoed = 0
        self.rounds -= 1
        if self.ending == "reset" and self.rounds == 0:
            self.reset_at = self.rng.randint(0, size)
            # Half of them read nothing: the server's sends back up, it stops reading, then the reset comes.
            self.deaf = self.rng.random() < 0.5
            if self.deaf:
                self.read_pause_until = float("inf")

    def interest(self, now: float) -> int:
        events = 0
        # A pending reset also waits for "writable": it is done in write().
        more = self.sent < len(self.data) or (0 <= self.reset_at <= self.sent)
        sending = more and now >= self.write_pause_until and self.link.can_send()
        if not self.connected or sending or self.link.has_output():
            events |= selectors.EVENT_WRITE
        if self.connected and (now >= self.read_pause_until or not self.link.ready):
            events |= selectors.EVENT_READ
        return events

    def watch(self, now: float) -> None:
        """Registers the events wanted now (none while both sides pause)."""
        events = self.interest(now)
        if events == self.watching:
            return
        if not events:
            self.swarm.sel.unregister(self.sock)
        elif not self.watching:
            self.swarm.sel.register(self.sock, events, self)
        else:
            self.swarm.sel.modify(self.sock, events, self)
        self.watching = events

    def on_ready(self, mask: int, now: float) -> None:
        if not self.connected:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.end(f"connect failed: {os.strerror(err)}", error=True)
            self.connected = True
            self.next_round()
        if mask & selectors.EVENT_READ and not self.read():
            return
        if mask & selectors.EVENT_WRITE:
            self.write(now)

    def write(self, now: float) -> None:
        if self.reset_at >= 0 and self.sent >= self.reset_at:
            return self.reset()
        end = min(len(self.data), self.sent + CHUNK)
        if self.reset_at >= 0:
            end = min(end, self.reset_at)
        try:
            if self.sent == end:
                return self.link.flush()  # only the TLS records of what was sent before
            n = self.link.send(self.data[self.sent : end])
        except BlockingIOError:
            if self.deaf and self.link.ready:
                self.reset()
            return
        except OSError as e:  # ssl.SSLError too
            return self.end(f"send: {e}", error=True)
        self.sent += n
        self.swarm.stats["bytes_sent"] += n
        self.last_progress = now
        if self.rng.random() < 0.02:
            self.write_pause_until = now + self.rng.uniform(0, 0.2)
        if self.rng.random() < 0.01 and not self.deaf:
            self.read_pause_until = now + self.rng.uniform(0.05, 0.5)
        if self.sent == len(self.data) and self.ending == "half-close" and not self.shut:
            self.link.shutdown_write()
            self.shut = True
            self.swarm.stats["half_closes"] += 1

    def read(self) -> bool:
        """Reads what is there; False when the session ended."""
        try:
            chunk = self.link.recv()
        except BlockingIOError:
            return True
        except OSError as e:  # ssl.SSLError too
            return self.end(f"recv: {e}", error=True)
        if not chunk:
            return self.on_eof()
        expected = self.data[self.echoed : self.echoed + len(chunk)]
        if len(chunk) > len(expected) or chunk != expected:
            return self.corrupted(chunk, expected)
        self.echoed += len(chunk)
        self.swarm.stats["bytes_verified"] += len(chunk)
        self.last_progress = time.monotonic()
        if self.echoed == len(self.data) and not self.shut:
            if self.rounds > 0:
                self.next_round()
                if self.rng.random() < 0.3:
                    self.write_pause_until = time.monotonic() + self.rng.uniform(0, 0.3)
            elif self.ending == "close":
                return self.end("closed")
        return True

    def on_eof(self) -> bool:
        unechoed = self.sent - self.echoed
        if self.shut and unechoed == 0 and self.sent == len(self.data):
            return self.end("half-closed")
        self.swarm.lost(unechoed, f"session {self.slot}: server EOF with {unechoed} of {self.sent} sent bytes unechoed "
                        f"({self.ending}, round of {len(self.data)} B)")
        return self.end("eof early", error=True)

    def corrupted(self, chunk: bytes, expected: memoryview) -> bool:
        bad = sum(1 for a, b in zip(chunk, expected) if a != b) + max(0, len(chunk) - len(expected))
        at = next((i for i, (a, b) in enumerate(zip(chunk, expected)) if a != b), len(expected))
        self.swarm.stats["corrupted"] += bad
        self.swarm.note(f"session {self.slot}: {bad} corrupted bytes in a {len(chunk)} B read at stream offset "
                        f"{self.echoed + at} of a {len(self.data)} B round ({self.ending})")
        self.reset()
        return False

    def check_stall(self, now: float) -> None:
        if now - self.last_progress > STALL_SECS:
            self.swarm.stats["stalls"] += 1
            self.swarm.lost(self.sent - self.echoed, f"session {self.slot}: no progress for {STALL_SECS:.0f} s with "
                            f"{self.sent - self.echoed} bytes unechoed ({self.ending}, round of {len(self.data)} B, "
                            f"sent {self.sent})")
            self.reset()

    def reset(self) -> bool:
        """Closes with SO_LINGER 0: the kernel sends a reset."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.swarm.stats["resets"] += 1
        return self.end("reset")

    def end(self, how: str, error: bool = False) -> bool:
        if error:
            self.swarm.stats["errors"] += 1
            self.swarm.note(f"session {self.slot}: {how}")
        if self.watching:
            self.swarm.sel.unregister(self.sock)
        self.sock.close()
        self.swarm.ended(self)
        return False


# ---- the swarm against one server -------------------------------------------------


class Swarm:
    def __init__(self, name: str, addr: tuple[str, int], conns: int, until: float) -> None:
        self.name = name
        self.addr = addr
        self.tls = ssl.create_default_context(cafile=CERTS / "ca.pem") if SOAK_TLS else None
        self.until = until
        self.sel = selectors.DefaultSelector()
        self.stats = {k: 0 for k in ("bytes_sent", "bytes_verified", "lost", "corrupted", "connections",
                                     "reconnects", "resets", "half_closes", "stalls", "errors", "unfinished")}
        self.notes: list[str] = []
        self.numbers = [0] * conns
        self.live: dict[int, Session] = {}
        for slot in range(conns):
            self.live[slot] = Session(self, slot, 0)

    def note(self, text: str) -> None:
        if len(self.notes) < 20:
            self.notes.append(text)

    def lost(self, n: int, why: str) -> None:
        if n > 0:
            self.stats["lost"] += n
            self.note(why)

    def ended(self, s: Session) -> None:
        del self.live[s.slot]
        if time.monotonic() < self.until:
            self.numbers[s.slot] += 1
            self.live[s.slot] = Session(self, s.slot, self.numbers[s.slot])

    def run(self) -> dict:
        hard_stop = self.until + DRAIN_SECS
        while self.live and time.monotonic() < hard_stop:
            now = time.monotonic()
            for s in list(self.live.values()):
                s.check_stall(now)
            for s in self.live.values():
                s.watch(now)
            for key, mask in self.sel.select(0.05):
                session: Session = key.data
                if session.slot in self.live and self.live[session.slot] is session:
                    allowed = mask & session.interest(now)
                    if allowed:
                        session.on_ready(allowed, now)
        for s in list(self.live.values()):
            self.stats["unfinished"] += 1
            self.lost(s.sent - s.echoed if s.ending != "reset" else 0, f"session {s.slot}: unfinished at the end")
            s.end("unfinished")
        return {"stats": self.stats, "notes": self.notes}


def swarm_main(name: str, addr: tuple[str, int], conns: int, until: float, out) -> None:
    try:
        out.put((name, Swarm(name, addr, conns, until).run()))
    except Exception as e:  # reported, not raised: the parent writes the report
        out.put((name, {"stats": None, "notes": [f"swarm crashed: {e!r}"]}))


# ---- servers, RSS and the report ----------------------------------------------------


class Server:
    def __init__(self, name: str, argv: list) -> None:
        self.name = name
        self.err_path = ROOT / "build" / "soak" / f"{name}{' TLS' if SOAK_TLS else ''}.err"
        self.err = open(self.err_path, "wb")
        env = dict(os.environ, NETCORE_TLS_CERT=str(CERTS / "server.pem"), NETCORE_TLS_KEY=str(CERTS / "server.key"))
        self.proc = subprocess.Popen([str(a) for a in argv] + ["127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"{name} server did not start: {line!r}; see {self.err_path}")
        self.addr = ("127.0.0.1", int(m.group(1)))
        self.rss: list[tuple[float, int]] = []

    def sample(self, t: float) -> None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.rss.append((t, int(line.split()[1])))
        except OSError:
            pass

    def stop(self) -> int | None:
        """SIGINT, then SIGKILL after 20 s; the exit status (None if killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        return self.proc.returncode


def rss_verdict(rss: list[tuple[float, int]], warmup: float, end: float) -> dict:
    window = min(60.0, (end - warmup) / 3)
    first = [k for t, k in rss if warmup <= t < warmup + window]
    last = [k for t, k in rss if end - window <= t <= end]
    if not first or not last:
        return {"flat": False, "why": "too few samples"}
    a, b = statistics.median(first), statistics.median(last)
    allowed = max(0.10 * a, 2048)
    return {"flat": b - a <= allowed, "first": a, "last": b, "allowed": allowed, "window": window,
            "at_warmup": first[0], "at_end": last[-1], "max": max(k for _, k in rss)}


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024 // 1024} GiB"


def write_report(path: Path, results: dict, servers: dict, started: datetime.datetime, load: tuple, ok: bool) -> None:
    rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True)
    rows = [("bytes sent", "bytes_sent"), ("bytes echoed and verified", "bytes_verified"), ("lost bytes", "lost"),
            ("corrupted bytes", "corrupted"), ("connections", "connections"), ("reconnects", "reconnects"),
            ("half-closes", "half_closes"), ("resets (ours, SO_LINGER 0)", "resets"), ("stalled sessions", "stalls"),
            ("client-side errors", "errors"), ("sessions unfinished at the end", "unfinished")]
    names = list(servers)
    out = [
        f"## {'TLS' if SOAK_TLS else 'Plaintext'}",
        "",
        f"Command: `make soak` (SOAK_SECS={SOAK_SECS:g}, SOAK_CONNS={SOAK_CONNS}{', SOAK_TLS=1' if SOAK_TLS else ''}), "
        "driver `bench/soak.py`.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}, {SOAK_SECS:g} s per server, all {len(names)} at once",
        f"- machine: {machine()}",
        f"- netcore: {rev.stdout.strip()}",
        f"- load average at start / end: {load[0]:.1f} / {load[1]:.1f}"
        + (" (other builds and tests were running on this machine during the run)" if max(load) > 2 else ""),
        "- clients: per server, SOAK_CONNS concurrent connections on 127.0.0.1; each session sends 1 to 4 rounds "
        "of 1 B .. 1 MiB (log-uniform) from its own seeded stream with random write and read pauses, and ends "
        "with a close, a half-close (then reads the rest of the echo until EOF) or a reset mid-stream (half of those "
        "read nothing and reset once their writes block, if not before); then the "
        "slot reconnects."
        + (" Over TLS (Python's ssl on memory BIOs, certificate verified): the half-close is close_notify, and "
           "the server's own close_notify must end its echo (a bare TCP EOF is an error)." if SOAK_TLS else ""),
        "- RSS rule: warm-up = first min(60 s, SOAK_SECS/5); flat when the median VmRSS of the last W seconds "
        "exceeds the median of the first W seconds after warm-up by at most max(10 %, 2 MiB), "
        "W = min(60 s, a third of the time after warm-up); sampled every second.",
        "",
        f"**Result: {'PASS' if ok else 'FAIL'}**",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, key in rows:
        out.append(f"| {label} | " + " | ".join(
            f"{results[n]['stats'][key]:,}" if results[n]["stats"] else "n/a" for n in names) + " |")
    for label, key in (("RSS at warm-up end", "at_warmup"), ("RSS at end", "at_end"), ("RSS max", "max"),
                       ("median RSS, first window after warm-up", "first"), ("median RSS, last window", "last")):
        out.append(f"| {label} | " + " | ".join(
            mib(servers[n]["rss"][key]) if key in servers[n]["rss"] else "n/a" for n in names) + " |")
    out.append("| RSS flat after warm-up | " + " | ".join(
        "yes" if servers[n]["rss"]["flat"] else "**no**" for n in names) + " |")
    out.append("| server exit status after SIGINT | " + " | ".join(str(servers[n]["exit"]) for n in names) + " |")
    notes = [(n, t) for n in names for t in results[n]["notes"]]
    if notes:
        out += ["", "Notes (first per server):", ""] + [f"- {n}: {t}" for n, t in notes]
    # The file keeps the other mode's section: each run replaces its own.
    sections = {}
    if path.exists():
        for part in path.read_text().split("\n## ")[1:]:
            sections[part.split("\n", 1)[0]] = "## " + part.rstrip("\n") + "\n"
    sections[out[0][3:]] = "\n".join(out) + "\n"
    body = "\n".join(sections[k] for k in ("Plaintext", "TLS") if k in sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Soak test\n\n" + body)


def main() -> int:
    (ROOT / "build" / "soak").mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()[0]
    servers: dict[str, Server] = {}
    try:
        table = TLS_SERVERS if SOAK_TLS else SERVERS
        if SOAK_TLS and not (CERTS / "ca.pem").exists():
            subprocess.run(["bash", ROOT / "tests" / "tls" / "make-certs.sh", CERTS], check=True,
                           stdout=subprocess.DEVNULL)
        wanted = os.environ.get("SOAK_SERVERS", ",".join(table)).split(",")
        for name, argv in ((n, table[n]) for n in wanted):
            servers[name] = Server(name, argv)
            log(f"{name} echo server pid {servers[name].proc.pid} on port {servers[name].addr[1]}")
        t0 = time.monotonic()
        until = t0 + SOAK_SECS
        done: mp.Queue = mp.Queue()
        workers = [mp.Process(target=swarm_main, args=(n, s.addr, SOAK_CONNS, until, done)) for n, s in servers.items()]
        for w in workers:
            w.start()
        results: dict[str, dict] = {}
        next_log = t0 + 30
        while len(results) < len(workers):
            now = time.monotonic()
            for s in servers.values():
                if now <= until:
                    s.sample(now - t0)
            if now >= next_log:
                rss = ", ".join(f"{n} {mib(s.rss[-1][1])}" for n, s in servers.items() if s.rss)
                log(f"{now - t0:.0f} s: RSS {rss}")
                next_log += 30
            try:
                name, result = done.get(timeout=max(0.0, 1 - (time.monotonic() - now)))
                results[name] = result
            except queue.Empty:
                pass
        for w in workers:
            w.join(10)
        warmup = min(60.0, SOAK_SECS / 5)
        report = {}
        ok = True
        for name, s in servers.items():
            alive = s.proc.poll() is None
            report[name] = {"rss": rss_verdict(s.rss, warmup, SOAK_SECS), "exit": s.stop() if alive else
                            f"died ({s.proc.returncode})"}
            st = results[name]["stats"]
            ok &= bool(st) and st["lost"] == 0 and st["corrupted"] == 0 and st["stalls"] == 0
            ok &= report[name]["rss"]["flat"] and report[name]["exit"] == 0
            log(f"{name}: {st} rss {report[name]['rss']} exit {report[name]['exit']}")
        out = ROOT / "SOAK.md" if SOAK_SECS >= 600 else ROOT / "build" / "soak" / "SOAK.md"
        write_report(out, results, report, started, (load_start, os.getloadavg()[0]), ok)
        log(f"{'PASS' if ok else 'FAIL'}: report in {out.relative_to(ROOT)}")
        return 0 if ok else 1
    finally:
        for s in servers.values():
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
