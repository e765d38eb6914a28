"""One loopback echo with an installed netcore wheel (tests/packaging/install.sh)."""

import netcore

with netcore.Loop() as loop:
    listener = loop.listen("127.0.0.1", 0)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    loop.send(client, b"ping")
    echoed = b""
    # Bounded: at most 400 polls of at most 50 ms each.
    for _ in range(400):
        for ev in loop.poll(timeout=0.05):
            if ev.kind == netcore.DATA and ev.handle == client:
                echoed += ev.data
            elif ev.kind == netcore.DATA:
                loop.send(ev.handle, ev.data)
        if echoed == b"ping":
            break
    assert echoed == b"ping", f"echoed {echoed!r}"
    print(f"python: netcore {netcore.__version__} from {netcore.__file__}: echo ok")
