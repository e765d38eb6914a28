#!/usr/bin/env python3
"""netcore chat demo: three clients talk through build/examples/chat_server.

usage: python3 examples/demo.py BUILD_EXAMPLES_DIR     (run by `make demo`)

Starts `chat_server 127.0.0.1:0`, reads the port from its
"listening on HOST:PORT" line, connects alice, bob and carol with plain
Python sockets, lets them take turns saying a few lines and checks that
every client received every line of every other client (and none of its
own), in order, as "<peer-addr>: <line>". Then two netcore clients join
the room while alice, bob and carol are still there: the Python binding's
examples/python/chat_client.py (run by build/venv-python/bin/python) and a
few lines of Node on the Node binding (bindings/node). Each says one line,
which the others must receive; alice answers it, and the netcore client
must print her answer. Last, it sends SIGINT to the server and checks that
it closes the clients gracefully and exits 0.

The binding clients are skipped, with a note, when their binding is not
built yet (`make test` builds both), so the demo also works on a fresh
clone; once built, any failure of theirs fails the demo. Environment
overrides: NETCORE_DEMO_PYTHON (the venv's python), NETCORE_DEMO_NODE (the
node executable), NETCORE_DEMO_NODE_BINDING (the bindings/node directory).

Standard library only. Every wait has a timeout: the demo never hangs.
Exits 0 on success, 1 on any failure.
"""

import glob
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

TIMEOUT = 5.0  # seconds for any single wait

SCRIPT = [
    ("alice", "hi everyone!"),
    ("bob", "hello alice"),
    ("carol", "hey both, what are we building?"),
    ("alice", "an event loop with a C ABI"),
    ("bob", "written in Rust, on top of mio"),
    ("carol", "nice. one more line each, then we stop"),
    ("alice", "bye!"),
    ("bob", "see you"),
    ("carol", "ciao"),
]
NAMES = ["alice", "bob", "carol"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_TIMEOUT = 10.0  # seconds a binding client may take from start to exit

# A netcore chat client on the Node binding, run as
# `node -e NODE_CLIENT BINDING_DIR HOST PORT LINE`: connects, says LINE,
# prints every line the room sends for 1 s, then closes gracefully. Exits 1
# if the connection fails or ends abnormally.
NODE_CLIENT = r"""
const [binding, host, port, line] = process.argv.slice(1)
const { createLoop } = require(binding)
const loop = createLoop()
const conn = loop.connect(host, Number(port))
loop.setFraming(conn, { mode: 'delimited', delimiter: '\n', maxFrame: 65536 })
const fail = (why) => { console.error(`node client: ${why}`); process.exitCode = 1; loop.close() }
loop.on('connected', () => {
  loop.send(conn, `${line}\n`)
  setTimeout(() => loop.close(conn), 1000)
})
loop.on('data', (ev) => console.log(ev.data.toString()))
loop.on('connect_failed', (ev) => fail(`cannot connect: ${ev.error.message}`))
loop.on('closed', (ev) => { if (ev.error) fail(`connection ended: ${ev.error.message}`) })
setTimeout(() => fail('still running after 5 s'), 5000).unref()
"""


class DemoError(Exception):
    pass


def pump(stream, lines):
    """Copies a child's output stream into a queue, line by line."""
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
    lines.put(None)


def next_line(lines, what, deadline):
    """The next line from a pump queue, or DemoError after the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DemoError(f"timed out waiting for {what}")
    try:
        line = lines.get(timeout=left)
    except queue.Empty:
        raise DemoError(f"timed out waiting for {what}") from None
    if line is None:
        raise DemoError(f"the server exited while waiting for {what}")
    return line


class Client:
    def __init__(self, name, host, port):
        self.name = name
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.addr = "%s:%d" % self.sock.getsockname()[:2]
        self.buf = b""
        self.received = []

    def say(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def read_line(self):
        """The next line the server sent this client (without the newline)."""
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise DemoError(f"{self.name} received nothing for {TIMEOUT:.0f}s") from None
            if not chunk:
                raise DemoError(f"{self.name}: the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace")
        self.received.append(text)
        return text

    def wait_eof(self):
        """True if the server closes this connection cleanly (FIN) in time."""
        self.sock.settimeout(TIMEOUT)
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, ConnectionError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def shown_path(path):
    """`path` relative to the current directory when it is below it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def python_client(host, port, line):
    """The command line of examples/python/chat_client.py saying `line`, and
    how to show it; or (None, None, why it is skipped)."""
    default = os.path.join(ROOT, "build", "venv-python", "bin", "python")
    python = os.environ.get("NETCORE_DEMO_PYTHON", default)
    hint = "run `make test` first (or `bash bindings/python/test.sh`) to build it"
    if not os.access(python, os.X_OK):
        return None, None, f"{python} not found: {hint}"
    try:
        probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('netcore') is None)"
        probed = subprocess.run([python, "-c", probe], capture_output=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DemoError(f"cannot run {python}: {e}") from None
    if probed.returncode != 0:
        return None, None, f"netcore is not installed in {python}: {hint}"
    script = os.path.join(ROOT, "examples", "python", "chat_client.py")
    args = [f"{host}:{port}", "--linger", "0.5", line]
    shown = shlex.join([shown_path(python), shown_path(script)] + args)
    return [python, script] + args, shown, None


def node_client(host, port, line):
    """The command line of the NODE_CLIENT script saying `line`, and how to
    show it; or (None, None, why it is skipped)."""
    node = os.environ.get("NETCORE_DEMO_NODE", "node")
    binding = os.environ.get("NETCORE_DEMO_NODE_BINDING", os.path.join(ROOT, "bindings", "node"))
    hint = "run `make test` first (or `cd bindings/node && npm ci`) to build it"
    if shutil.which(node) is None:
        return None, None, f"{node} not found (the Node binding needs Node >= 20.17)"
    if not glob.glob(os.path.join(binding, "netcore.*.node")):
        return None, None, f"the Node addon is not built in {binding}: {hint}"
    args = [host, str(port), line]
    shown = (f'{node} -e "$NODE_CLIENT" {shlex.join([shown_path(binding)] + args)}'
             "   # NODE_CLIENT: see examples/demo.py")
    return [node, "-e", NODE_CLIENT, os.path.abspath(binding)] + args, shown, None


def run(build_dir):
    server_exe = os.path.join(build_dir, "chat_server")
    if not os.access(server_exe, os.X_OK):
        raise DemoError(f"{server_exe} not found: run `make examples` first")

    print(f"$ {server_exe} 127.0.0.1:0")
    server = subprocess.Popen(
        [server_exe, "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out_lines, err_lines = queue.Queue(), queue.Queue()
    for stream, lines in ((server.stdout, out_lines), (server.stderr, err_lines)):
        threading.Thread(target=pump, args=(stream, lines), daemon=True).start()
    clients = {}
    log = []  # the server's stderr, shown at the end

    def server_log(what):
        """Waits for a server log line containing `what`."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = next_line(err_lines, f"'{what}' in the server log", deadline)
            log.append(line)
            if what in line:
                return line

    def netcore_client(label, argv, shown, line):
        """Runs one binding client through the room: it joins and says
        `line`, everyone receives it, alice answers, and the client must
        have printed her answer when it exits."""
        print(f"$ {shown}")
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            try:
                addr = re.search(r"(\S+) joined", server_log(" joined")).group(1)
            except DemoError as e:
                proc.kill()
                _, err = proc.communicate(timeout=TIMEOUT)
                why = err.decode(errors="replace").strip()
                raise DemoError(f"the {label} client did not join ({e}): {why}") from None
            print(f"{label:>6} connected from {addr}")
            print(f"{label:>6} says     : {line}")
            for name in NAMES:
                got = clients[name].read_line()
                if got != f"{addr}: {line}":
                    raise DemoError(f"{name} received {got!r}, expected {addr}: {line!r}")
                if name == "alice":
                    print(f"{name:>6} receives : [{label}] {got.partition(': ')[2]}")
            alice = clients["alice"]
            reply = f"welcome, {label}!"
            alice.say(reply)
            print(f"{'alice':>6} says     : {reply}")
            for name in ("bob", "carol"):
                got = clients[name].read_line()
                if got != f"{alice.addr}: {reply}":
                    raise DemoError(f"{name} received {got!r}, expected {alice.addr}: {reply!r}")
            try:
                out, err = proc.communicate(timeout=CLIENT_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise DemoError(f"the {label} client ran for {CLIENT_TIMEOUT:.0f}s") from None
            printed = out.decode(errors="replace").splitlines()
            for got in printed:
                sender, _, said = got.partition(": ")
                print(f"{label:>6} receives : [{by_addr.get(sender, sender)}] {said}")
            if proc.returncode != 0:
                raise DemoError(f"the {label} client exited with status {proc.returncode}: "
                                f"{err.decode(errors='replace').strip()}")
            if printed != [f"{alice.addr}: {reply}"]:
                raise DemoError(f"the {label} client printed {printed!r}, expected {reply!r}")
            server_log(f"{addr} left")
            print(f"{label:>6} left the room")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)

    try:
        first = next_line(out_lines, "the 'listening on' line", time.monotonic() + TIMEOUT)
        print(f"server: {first}")
        if not first.startswith("listening on "):
            raise DemoError(f"unexpected first line from the server: {first!r}")
        host, _, port = first[len("listening on "):].rpartition(":")
        host, port = host.strip("[]"), int(port)

        # Connect one at a time and wait until the server logged each join,
        # so nobody misses a line said before the server saw them arrive.
        for name in NAMES:
            c = Client(name, host, port)
            clients[name] = c
            server_log(f"{c.addr} joined")
            print(f"{name:>5} connected from {c.addr}")
        by_addr = {c.addr: name for name, c in clients.items()}

        print("\n--- transcript ---")
        for speaker, text in SCRIPT:
            clients[speaker].say(text)
            print(f"{speaker:>5} says     : {text}")
            expect = f"{clients[speaker].addr}: {text}"
            for name in NAMES:
                if name == speaker:
                    continue
                got = clients[name].read_line()
                sender, _, said = got.partition(": ")
                print(f"{name:>5} receives : [{by_addr.get(sender, sender)}] {said}")
                if got != expect:
                    raise DemoError(f"{name} received {got!r}, expected {expect!r}")

        # Nobody may have received anything else (e.g. an echo of their own line).
        time.sleep(0.1)
        for c in clients.values():
            c.sock.setblocking(False)
            try:
                extra = c.sock.recv(4096)
            except BlockingIOError:
                extra = b""
            c.sock.setblocking(True)
            if c.buf or extra:
                raise DemoError(f"{c.name} received unexpected bytes: {(c.buf + extra)!r}")

        print("\n--- check ---")
        for name in NAMES:
            others = [(s, t) for s, t in SCRIPT if s != name]
            wanted = [f"{clients[s].addr}: {t}" for s, t in others]
            ok = clients[name].received == wanted
            print(f"{name:>5} received {len(clients[name].received)} line(s), "
                  f"expected {len(wanted)} from the others: {'ok' if ok else 'MISMATCH'}")
            if not ok:
                raise DemoError(f"{name} received {clients[name].received!r}, expected {wanted!r}")

        # Two netcore clients, one per binding, join while alice, bob and
        # carol are still in the room.
        print("\n--- netcore clients: Python and Node bindings ---")
        ran = []
        for label, make_client, line in (
            ("python", python_client, "hello from Python, on netcore"),
            ("node", node_client, "hello from Node, on netcore"),
        ):
            argv, shown, skipped = make_client(host, port, line)
            if skipped:
                print(f"{label:>6}: skipped: {skipped}")
                continue
            netcore_client(label, argv, shown, line)
            ran.append(label)
        if ran:
            print(f"alice, bob and carol received the line of {' and '.join(ran)}; "
                  f"{' and '.join(ran)} received alice's answer: ok")

        print("\n--- shutdown ---")
        print("sending SIGINT to the server")
        server.send_signal(signal.SIGINT)
        for c in clients.values():
            if not c.wait_eof():
                raise DemoError(f"{c.name} was not closed gracefully by the server")
            print(f"{c.name:>5}: server closed the connection (EOF)")
            c.close()
        try:
            code = server.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DemoError("the server did not exit after SIGINT") from None
        print(f"server exited with status {code}")
        if code != 0:
            raise DemoError(f"the server exited with status {code}, expected 0")
    finally:
        for c in clients.values():
            c.close()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=TIMEOUT)
        # Whatever the server logged that was not read yet.
        while True:
            try:
                line = err_lines.get(timeout=0.5)
            except queue.Empty:
                break
            if line is None:
                break
            log.append(line)
        print("\n--- server log (stderr) ---")
        for line in log:
            print(f"  {line}")


def main():
    if len(sys.argv) != 2:
        print("usage: demo.py BUILD_EXAMPLES_DIR", file=sys.stderr)
        return 2
    try:
        run(sys.argv[1])
    except (DemoError, OSError) as e:
        print(f"\ndemo FAILED: {e}", file=sys.stderr)
        return 1
    print("\ndemo OK: every client received every other client's lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
