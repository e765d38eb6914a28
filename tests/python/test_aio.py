"""asyncio integration: a netcore loop driven by a running asyncio loop,
with no extra thread."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable

import pytest

import netcore
import netcore.aio


def echo_handler(nc: netcore.Loop, listener: int) -> Callable[[netcore.Event], None]:
    pending: dict[int, list[bytes]] = {}

    def on_event(ev: netcore.Event) -> None:
        h = ev.handle
        if ev.kind == "data" and ev.data is not None:
            if h in pending:
                pending[h].append(ev.data)
                return
            try:
                nc.send(h, ev.data)
            except BlockingIOError:
                pending[h] = [ev.data]
                nc.pause(h)
        elif ev.kind == "writable":
            q = pending.get(h, [])
            while q:
                try:
                    nc.send(h, q[0])
                except BlockingIOError:
                    return
                q.pop(0)
            pending.pop(h, None)
            nc.resume(h)
        elif ev.kind == "eof":
            nc.close(h)

    return on_event


def test_netcore_server_asyncio_client_one_loop() -> None:
    threads_before = threading.active_count()

    async def main() -> tuple[bytes, int, int]:
        with netcore.Loop() as nc:
            listener = nc.listen("127.0.0.1", 0)
            port = nc.local_address(listener)[1]
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            tick_task = asyncio.create_task(ticker())
            with netcore.aio.attach(nc, echo_handler(nc, listener)) as driver:
                assert not driver.closed
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
                payload = os.urandom(4 * 1024 * 1024)
                writer.write(payload)
                await writer.drain()
                got = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
                writer.write(b"bye")
                writer.write_eof()
                tail = await asyncio.wait_for(reader.read(), 5)  # until the server's FIN
                writer.close()
                await writer.wait_closed()
                threads_during = threading.active_count()
            assert driver.closed
            tick_task.cancel()
            assert got == payload and tail == b"bye"
            return got, ticks, threads_during

    _, ticks, threads_during = asyncio.run(main())
    assert ticks > 0, "ordinary asyncio code ran alongside"
    assert threads_during == threads_before, "netcore started no thread"
    assert threading.active_count() == threads_before


def test_netcore_timer_through_call_later() -> None:
    async def main() -> float:
        with netcore.Loop() as nc:
            fired = asyncio.get_running_loop().create_future()
            start = time.monotonic()

            def on_event(ev: netcore.Event) -> None:
                if ev.kind == "timer" and not fired.done():
                    fired.set_result(time.monotonic() - start)

            with netcore.aio.attach(nc, on_event):
                nc.timer(0.15)
                # the timer was armed after attaching: the next dispatch picks
                # up the new deadline
                return await asyncio.wait_for(fired, 60)  # a hang guard

    elapsed = asyncio.run(main())
    assert elapsed >= 0.149, f"the 0.15 s timer fired after {elapsed:.3f} s"


def test_netcore_client_asyncio_server() -> None:
    async def main() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readline()
            writer.write(data.upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with netcore.Loop() as nc:
            done = asyncio.get_running_loop().create_future()
            got = bytearray()

            def on_event(ev: netcore.Event) -> None:
                if ev.kind == "connected":
                    nc.send(ev.handle, b"hello asyncio\n")
                elif ev.kind == "data" and ev.data is not None:
                    got.extend(ev.data)
                elif ev.kind == "closed" and not done.done():
                    done.set_result(bytes(got))
                elif ev.kind == "eof":
                    nc.close(ev.handle)

            with netcore.aio.attach(nc, on_event):
                nc.connect("127.0.0.1", port)
                result = await asyncio.wait_for(done, 5)
        server.close()
        await server.wait_closed()
        return result

    assert asyncio.run(main()) == b"HELLO ASYNCIO\n"


def test_callback_exception_goes_to_exception_handler() -> None:
    async def main() -> list[dict[str, object]]:
        errors: list[dict[str, object]] = []
        aloop = asyncio.get_running_loop()
        aloop.set_exception_handler(lambda _l, ctx: errors.append(ctx))
        with netcore.Loop() as nc:
            seen: list[object] = []

            def on_event(ev: netcore.Event) -> None:
                seen.append(ev.userdata)
                if ev.kind == "timer" and ev.userdata == 0:
                    raise RuntimeError("boom")

            with netcore.aio.attach(nc, on_event):
                nc.timer(0, userdata=0)
                nc.timer(0.05, userdata=1)
                for _ in range(6000):  # a 60 s hang guard
                    await asyncio.sleep(0.01)
                    if 1 in seen:
                        break
            assert 1 in seen, "dispatch went on after the exception"
        return errors

    errors = asyncio.run(main())
    assert len(errors) == 1 and isinstance(errors[0]["exception"], RuntimeError)


def test_attach_needs_running_loop() -> None:
    with netcore.Loop() as nc:
        with pytest.raises(RuntimeError):
            netcore.aio.attach(nc, lambda ev: None)


def test_keyboard_interrupt_in_a_callback_propagates_and_the_rest_of_the_batch_follows() -> None:
    aloop = asyncio.new_event_loop()
    try:
        with netcore.Loop() as nc:
            for i in range(5):
                nc.timer(0, userdata=i)  # all due now: one batch
            seen: list[int] = []

            def on_event(ev: netcore.Event) -> None:
                if ev.kind == "timer":
                    seen.append(ev.userdata)
                    if len(seen) == 2:
                        raise KeyboardInterrupt

            driver = netcore.aio.AsyncioDriver(nc, on_event, loop=aloop)
            guard = aloop.call_later(10, aloop.stop)  # hang guard only
            with pytest.raises(KeyboardInterrupt):
                aloop.run_forever()
            guard.cancel()
            assert len(seen) == 2

            async def rest() -> None:
                for _ in range(500):
                    if len(seen) == 5:
                        return
                    await asyncio.sleep(0.01)

            aloop.run_until_complete(rest())
            driver.close()
            assert sorted(seen) == [0, 1, 2, 3, 4]
    finally:
        aloop.close()


def test_cancelled_error_in_a_callback_is_reported_and_dispatch_goes_on() -> None:
    async def main() -> tuple[list[int], list[dict[str, object]]]:
        errors: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: errors.append(ctx))
        seen: list[int] = []
        with netcore.Loop() as nc:
            for i in range(3):
                nc.timer(0, userdata=i)

            def on_event(ev: netcore.Event) -> None:
                if ev.kind == "timer":
                    seen.append(ev.userdata)
                    if len(seen) == 1:
                        raise asyncio.CancelledError

            with netcore.aio.attach(nc, on_event):
                for _ in range(500):
                    if len(seen) == 3:
                        break
                    await asyncio.sleep(0.01)
        return seen, errors

    seen, errors = asyncio.run(main())
    assert sorted(seen) == [0, 1, 2]
    assert len(errors) == 1 and isinstance(errors[0]["exception"], asyncio.CancelledError)


def test_closing_the_netcore_loop_unregisters_its_descriptor_from_asyncio() -> None:
    async def main() -> bytes:
        aloop = asyncio.get_running_loop()
        nc = netcore.Loop()
        fd = nc.fileno()
        driver = netcore.aio.attach(nc, lambda ev: None)
        nc.close()
        assert driver.closed
        # The lowest free number goes to the next descriptor: take sockets
        # until one reuses the netcore loop's number.
        pairs: list[tuple[socket.socket, socket.socket]] = []
        try:
            for _ in range(8):
                pairs.append(socket.socketpair())
                if fd in (pairs[-1][0].fileno(), pairs[-1][1].fileno()):
                    break
            a, b = pairs[-1]
            mine, peer = (a, b) if a.fileno() == fd else (b, a)
            assert mine.fileno() == fd, "no socket reused the descriptor number"
            mine.setblocking(False)
            receiving = asyncio.ensure_future(aloop.sock_recv(mine, 16))
            await asyncio.sleep(0)  # sock_recv now waits on the descriptor
            peer.send(b"woken")
            return await asyncio.wait_for(receiving, 5)
        finally:
            for x, y in pairs:
                x.close()
                y.close()

    assert asyncio.run(main()) == b"woken"


def test_closing_the_netcore_loop_from_another_thread_detaches_the_driver() -> None:
    async def main() -> bool:
        nc = netcore.Loop()
        driver = netcore.aio.attach(nc, lambda ev: None)
        for _ in range(3):
            await asyncio.sleep(0)  # the first dispatch is over: only the reader is left
        await asyncio.to_thread(nc.close)
        for _ in range(100):
            if driver.closed:
                break
            await asyncio.sleep(0.01)
        return driver.closed

    assert asyncio.run(main())


def test_attach_rejects_max_events_below_one() -> None:
    async def main() -> None:
        with netcore.Loop() as nc:
            for bad in (0, -1):
                with pytest.raises(netcore.InvalidArgumentError, match="max_events"):
                    netcore.aio.attach(nc, lambda ev: None, max_events=bad)
            with pytest.raises(TypeError):
                netcore.aio.attach(nc, lambda ev: None, max_events=1.5)  # type: ignore[arg-type]
            with netcore.aio.attach(nc, lambda ev: None, max_events=1) as driver:
                assert not driver.closed

    asyncio.run(main())
