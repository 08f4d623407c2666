"""Probes in worker processes: for profiles that need their own OpenSSL configuration, and to
use more than one core (`--workers N`).

OpenSSL reads OPENSSL_CONF once per process, so a profile that imposes signature algorithms
(`rsa`, `ecdsa`) gets processes of its own, started with OPENSSL_CONF pointing at a generated
file. A handshake costs about a millisecond of CPU, most of it in OpenSSL, so one process tops
out near a thousand probes a second; workers spread that over the cores. The main process sends
one JSON line per probe to make; a worker answers with one JSON line per observation, in
completion order. The main process keeps the store and the clock.

Run as `python -m certcensus.probe.workers PROFILE` (the main process does this).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from certcensus.model.observation import Observation, observation_from_wire, observation_to_wire
from certcensus.probe.dialogs import DialogOptions
from certcensus.probe.prober import ProbeSettings, probe_once
from certcensus.probe.probers import Prober
from certcensus.probe.profiles import DEFAULT_ENGINE, PROFILES, client_context
from certcensus.probe.targets import Target


class WorkerProber:
    """The main process's side: `await probe(...)` as if calling `probe_once` locally."""

    def __init__(self, profile: str):
        self.profile = PROFILES[profile]
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._reader: asyncio.Task | None = None
        self._config_dir = tempfile.TemporaryDirectory(prefix="certcensus-profile-")

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        environment = dict(os.environ)
        if self.profile.needs_worker:
            config = Path(self._config_dir.name) / "openssl.cnf"
            config.write_text(self.profile.openssl_config())
            environment["OPENSSL_CONF"] = str(config)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "certcensus.probe.workers", self.profile.name,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=environment,
            limit=16 * 1024 * 1024,  # a line carries a whole chain in base64
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read_answers())

    async def probe(
        self,
        target: Target,
        address: str,
        settings: ProbeSettings,
        source_address: str | None = None,
    ) -> Observation:
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        options = settings.dialog_options
        request = {
            "id": request_id, "host": target.host, "port": target.port, "dialog": target.dialog,
            "given": target.given, "service": target.service, "address": address,
            "sni": settings.sni, "http_head": settings.http_head,
            "identity_headers": list(settings.identity_headers),
            "timeout": settings.timeout, "source": source_address,
            "protocol_options": dict(options.values) if options else {},
            "engine": settings.engine,
        }  # fmt: skip
        assert self._process is not None and self._process.stdin is not None, "start() first"
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        return await future

    async def _read_answers(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            line = await self._process.stdout.readline()
            if not line:
                break
            answer = json.loads(line)
            future = self._pending.pop(answer.pop("id"), None)
            if future and not future.done():
                future.set_result(observation_from_wire(answer))
        error = RuntimeError(f"the {self.profile.name} profile worker exited")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    async def close(self, abort: bool = False) -> None:
        """Let the worker finish its probes and exit; `abort` (an interrupted run) ends it now,
        since the probes it still holds would not be recorded anyway."""
        if self._process:
            if abort and self._process.returncode is None:
                self._process.terminate()
            if self._process.stdin and not self._process.stdin.is_closing():
                self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 15)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader:
            await self._reader
        self._config_dir.cleanup()


class WorkerPool(Prober):
    """Several workers of one profile; each probe goes to the least busy."""

    def __init__(self, profile: str, size: int):
        self.workers = [WorkerProber(profile) for _ in range(max(1, size))]

    async def start(self) -> None:
        await asyncio.gather(*(worker.start() for worker in self.workers))

    async def probe(
        self,
        target: Target,
        address: str,
        settings: ProbeSettings,
        source_address: str | None = None,
    ) -> Observation:
        worker = min(self.workers, key=lambda w: w.pending)
        return await worker.probe(target, address, settings, source_address)

    async def close(self, abort: bool = False) -> None:
        await asyncio.gather(*(worker.close(abort) for worker in self.workers))


async def _serve(profile: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    context = client_context(profile)
    tasks: set[asyncio.Task] = set()
    parent = os.getppid()

    async def answer(request: dict) -> None:
        target = Target(
            request["host"], request["port"], request["dialog"], request["given"],
            request["service"],
        )  # fmt: skip
        options = DialogOptions(host=target.host, values=request["protocol_options"])
        settings = ProbeSettings(
            context, request["timeout"], request["sni"], options, profile,
            http_head=request["http_head"], identity_headers=tuple(request["identity_headers"]),
            engine=request.get("engine", DEFAULT_ENGINE),
        )  # fmt: skip
        observation = await probe_once(target, request["address"], settings, request["source"])
        line = json.dumps({"id": request["id"], **observation_to_wire(observation)})
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the main process is gone: nobody to answer
            os._exit(0)

    while line := await reader.readline():
        task = asyncio.create_task(answer(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if os.getppid() != parent:  # our stdin closed because the main process quit (a second
        os._exit(0)  # Ctrl-C): the probes in flight would be answered to no one
    if tasks:
        await asyncio.wait(tasks)


if __name__ == "__main__":
    # Ctrl-C on a terminal reaches the whole process group; the main process decides when the
    # run ends and closes our stdin then, so the worker finishes its probes instead of dying.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(sys.argv[1]))
