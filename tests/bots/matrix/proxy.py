"""A tiny loopback TCP proxy whose link can be cut and restored (a homeserver that vanishes)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.synapse.harness import free_port

CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>; ``pause`` cuts every connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._refuser: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Base URL to give a client instead of the homeserver's."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen and forward."""
        await self._close_refuser()
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def pause(self) -> None:
        """Drop every open connection; new ones are accepted and closed at once."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        self._refuser = await asyncio.start_server(self._refuse, "127.0.0.1", self.port)

    async def resume(self) -> None:
        """Forward again on the same port."""
        await self.start()

    async def close(self) -> None:
        """Stop everything."""
        await self.pause()
        await self._close_refuser()

    async def _close_refuser(self) -> None:
        if self._refuser is not None:
            self._refuser.close()
            self._refuser = None

    async def _refuse(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.refused += 1
        writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(CHUNK):
                dst.write(data)
                await dst.drain()
        dst.close()
        self._writers.discard(dst)
