"""``timeout`` bounds a whole attempt, not each read: a server that trickles bytes cannot hold a call.

A real local TCP server sends a valid answer one byte at a time, each byte well within the read timeout;
the whole answer takes far longer than ``timeout``. Without an overall deadline the call would succeed
once the last byte arrives; with it, the call fails as a timeout long before.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from studio_provider.client import (
    AsyncStudioClient,
    StudioClient,
    StudioConfig,
    StudioOutcomeUnknownError,
    StudioTransportError,
)

BODY = b" " * 10 + b"[]"  # 12 bytes: 3.6 s in all, against a 1 s timeout
GAP = 0.3  # seconds between two bytes: far below the read timeout


class TrickleServer:
    """Answers every request on a loopback port with ``head`` then ``BODY``, one byte every ``GAP``
    seconds starting at byte ``trickle_from``; stops sending when the client goes away."""

    def __init__(self, trickle_headers: bool = False, head_padding: int = 0) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if head_padding:  # a long header, trickled too: the head alone then outlasts any test bound
            head += b"X-Padding: " + b"p" * head_padding + b"\r\n"
        head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)
        self.payload = head + BODY
        self.trickle_from = len(head) - 12 - head_padding if trickle_headers else len(head)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self.answer, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received and len(received) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                received += chunk
            try:
                conn.sendall(self.payload[: self.trickle_from])
                for index in range(self.trickle_from, len(self.payload)):  # bounded by the payload
                    if self.stopping.is_set():
                        return
                    time.sleep(GAP)
                    conn.sendall(self.payload[index : index + 1])
            except OSError:
                return  # the client gave up: that is the point

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def trickle() -> Iterator[Callable[..., TrickleServer]]:
    servers: list[tuple[TrickleServer, threading.Thread]] = []

    def start(trickle_headers: bool = False, head_padding: int = 0) -> TrickleServer:
        server = TrickleServer(trickle_headers, head_padding)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.stopping.set()
        thread.join(timeout=5)
        for worker in server.threads:
            worker.join(timeout=5)
        server.sock.close()


def config(server: TrickleServer) -> StudioConfig:
    return StudioConfig.resolve(
        url=server.url, token="t", team="x", extras={"timeout": 1, "max_retries": 0}, environ={}
    )


def test_a_trickled_body_hits_the_deadline(trickle: Callable[..., TrickleServer]) -> None:
    server = trickle()
    with StudioClient(config(server)) as client, pytest.raises(StudioTransportError) as info:
        client.list_jobs()
    assert "1" in str(info.value) and "seconds" in str(info.value)


def test_a_trickled_answer_to_an_unsafe_call_is_an_unknown_outcome(
    trickle: Callable[..., TrickleServer],
) -> None:
    server = trickle()
    with StudioClient(config(server)) as client, pytest.raises(StudioOutcomeUnknownError):
        client.create_job(query="print(1)")


async def test_a_trickled_body_hits_the_deadline_async(trickle: Callable[..., TrickleServer]) -> None:
    server = trickle()
    async with AsyncStudioClient(config(server)) as client:
        with pytest.raises(StudioTransportError) as info:
            await client.list_jobs()
    assert "seconds" in str(info.value)


async def test_trickled_headers_hit_the_deadline_async(trickle: Callable[..., TrickleServer]) -> None:
    server = trickle(trickle_headers=True)
    async with AsyncStudioClient(config(server)) as client:
        with pytest.raises(StudioTransportError):
            await client.list_jobs()



def test_trickled_headers_hit_the_deadline(trickle: Callable[..., TrickleServer]) -> None:
    # The blocking client too: a response head trickled a byte at a time must not hold the call.
    server = trickle(trickle_headers=True, head_padding=200)  # a 60 s head against a 1 s timeout
    started = threading.Event()
    outcome: list[BaseException] = []

    def call() -> None:
        started.set()
        try:
            with StudioClient(config(server)) as client:
                client.list_jobs()
        except BaseException as exc:  # collected for the assertions below
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    started.wait(5)
    # Bounded: the trickle lasts far longer than this, so only the deadline can end the call in time.
    worker.join(timeout=20)
    assert not worker.is_alive(), "a trickled response head held the blocking call past its deadline"
    assert len(outcome) == 1 and isinstance(outcome[0], StudioTransportError), outcome
