"""Phase durations from the socket's own events, not from when our event loop got around to us.

Timing a phase around `await` measures the server *plus* however long our loop was busy with
other probes: at C=256 the stored connect p50 grew from 0.6 ms to 41 ms with our own load. So:

* connect: the kernel's round-trip sample of the handshake (TCP_INFO `tcpi_rtt` right after
  connect(): the SYN to SYN-ACK time, in microseconds; Linux takes its first RTT sample from
  the SYN-ACK). If the SYN was retransmitted (`tcpi_total_retrans` > 0) that sample covers only
  the last try, so the time around the await is kept instead: it is the retransmission that
  dominates then, not our loop.
* STARTTLS dialog and TLS handshake: for each exchange, from the moment we sent (taken when the
  bytes are handed to the kernel, before any await) to the kernel's receive timestamp of the
  last bytes of the answer (SO_TIMESTAMPNS on recvmsg: for TCP, the arrival of the last segment
  the read consumed), summed over the exchanges. Our own processing between an answer and our
  next message is not the server's time and is left out.

Where the kernel offers neither (not Linux), the clock falls back to the time around the awaits,
which is what it was before.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time

# Linux values (asm-generic/socket.h); Python's socket module does not name them all.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TCP_INFO = getattr(socket, "TCP_INFO", 11)
# struct tcp_info: 8 bytes of u8 fields, then u32s; tcpi_rtt is the 16th u32, total_retrans
# the 24th (linux/tcp.h).
_TCP_INFO_SIZE = 104
_RTT_OFFSET, _TOTAL_RETRANS_OFFSET = 8 + 15 * 4, 8 + 23 * 4
# Room for one SCM_TIMESTAMPNS control message (a struct timespec: two 64-bit fields).
_ANCILLARY_SIZE = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
KERNEL_CLOCK = sys.platform.startswith("linux")


def kernel_connect_seconds(sock: socket.socket) -> float | None:
    """The kernel's SYN to SYN-ACK round trip, or None when it is not a clean single sample."""
    if not KERNEL_CLOCK:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < _TOTAL_RETRANS_OFFSET + 4:
        return None
    (rtt_us,) = struct.unpack_from("I", info, _RTT_OFFSET)
    (retransmitted,) = struct.unpack_from("I", info, _TOTAL_RETRANS_OFFSET)
    if rtt_us == 0 or retransmitted:
        return None
    return rtt_us / 1e6


class ExchangeClock:
    """Sums, over a phase's exchanges, the time from our send to the arrival of the answer."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.kernel = False
        if KERNEL_CLOCK and _ANCILLARY_SIZE:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.kernel = True
            except OSError:
                pass
        self._sent_at: float | None = None  # our last send, Unix time
        self._answered_at: float | None = None  # arrival of the last bytes read since
        self._total = 0.0

    def start_phase(self, waiting_since: float | None = None) -> None:
        """A new phase; `waiting_since` when the server speaks first (its greeting follows the
        connection, not a message of ours)."""
        self._total = 0.0
        self._sent_at = waiting_since
        self._answered_at = None

    def sent(self) -> None:
        self._close_exchange()
        self._sent_at = time.time()

    def phase_seconds(self) -> float:
        self._close_exchange()
        return self._total

    def _close_exchange(self) -> None:
        if self._sent_at is not None and self._answered_at is not None:
            self._total += max(0.0, self._answered_at - self._sent_at)
            self._sent_at = None
        self._answered_at = None

    async def receive(self, loop: asyncio.AbstractEventLoop, size: int) -> bytes:
        """Like loop.sock_recv, but noting when the bytes arrived."""
        while True:
            try:
                if self.kernel:
                    data, ancillary, _, _ = self.sock.recvmsg(size, _ANCILLARY_SIZE)
                    self._note_arrival(ancillary)
                else:
                    data = self.sock.recv(size)
                    self._answered_at = time.time()
                return data
            except (BlockingIOError, InterruptedError):
                await _readable(loop, self.sock)

    def _note_arrival(self, ancillary) -> None:
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", payload)
                self._answered_at = seconds + nanoseconds / 1e9
                return
        self._answered_at = time.time()


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()
    fd = sock.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
