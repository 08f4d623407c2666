"""Reading TLS's length-prefixed structures (RFC 8446 section 3) without ever reading past them.

`Reader` is a cursor over one message; every read checks the remaining length and a short one
raises `CaptureError` (decode error), so a truncated or lying length field is a classified
refusal, never an IndexError.
"""

from __future__ import annotations

from certcensus.probe.native.errors import CaptureError, handshake_failed


class Reader:
    __slots__ = ("data", "position", "end", "what")

    def __init__(self, data: bytes, what: str, start: int = 0, end: int | None = None):
        self.data = data
        self.position = start
        self.end = len(data) if end is None else end
        self.what = what  # named in the refusal: "ServerHello", "Certificate", ...

    def remaining(self) -> int:
        return self.end - self.position

    def _take(self, count: int) -> int:
        start = self.position
        if count > self.end - start:
            raise self.error(f"cut short (needs {count} more bytes, has {self.end - start})")
        self.position = start + count
        return start

    def uint8(self) -> int:
        return self.data[self._take(1)]

    def uint16(self) -> int:
        start = self._take(2)
        return (self.data[start] << 8) | self.data[start + 1]

    def uint24(self) -> int:
        start = self._take(3)
        data = self.data
        return (data[start] << 16) | (data[start + 1] << 8) | data[start + 2]

    def raw(self, count: int) -> bytes:
        start = self._take(count)
        return self.data[start : start + count]

    def vector8(self) -> bytes:
        return self.raw(self.uint8())

    def vector16(self) -> bytes:
        return self.raw(self.uint16())

    def vector24(self) -> bytes:
        return self.raw(self.uint24())

    def sub16(self, what: str) -> Reader:
        """A reader over the next 16-bit-length vector, consumed from this one."""
        length = self.uint16()
        start = self._take(length)
        return Reader(self.data, what, start, start + length)

    def sub24(self, what: str) -> Reader:
        length = self.uint24()
        start = self._take(length)
        return Reader(self.data, what, start, start + length)

    def expect_end(self) -> None:
        if self.position != self.end:
            raise self.error(f"{self.end - self.position} bytes of trailing data")

    def error(self, problem: str) -> CaptureError:
        return handshake_failed(f"malformed {self.what}: {problem}")


def uint16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def vector8(body: bytes) -> bytes:
    return bytes((len(body),)) + body


def vector16(body: bytes) -> bytes:
    return len(body).to_bytes(2, "big") + body


def vector24(body: bytes) -> bytes:
    return len(body).to_bytes(3, "big") + body
