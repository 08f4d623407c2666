"""Where alert events go: a line on stdout (always), a command (`--exec`), a URL (`--webhook`).

Stdout takes `text` (one line per alert) or `json` (JSON lines). A webhook POSTs one of:
  json          the event as certcensus writes it (the default);
  alertmanager  Alertmanager's API v2 body (POST /api/v2/alerts): a list of one alert with
                labels alertname, target, chain, severity and annotations summary, details;
                Alertmanager then groups, silences and routes it like Prometheus's own;
  slack         Slack's incoming-webhook body ({"text": ...}); Mattermost and Rocket.Chat
                take the same.

The exec and webhook sinks deliver from a bounded queue in a background task, so a hung
command or an unreachable webhook never delays probing; when the queue is full the newest event
is dropped and said so on stderr (the stdout line has still been printed).
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

from certcensus import __version__
from certcensus.watch.alerts import AlertEvent

# Enough for every alert of a large fleet's worst round; beyond it, a sink is plainly down.
QUEUE_SIZE = 1000
EXEC_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 10.0
# Exponential back-off: 1, 2, 4, 8, 16 s between the 6 tries (31 s in all), as Alertmanager's
# webhook retries grow; a receiver restarting for half a minute loses nothing.
WEBHOOK_TRIES = 6
WEBHOOK_FIRST_DELAY = 1.0


def _stderr(message: str) -> None:
    print(f"certcensus: warning: {message}", file=sys.stderr, flush=True)


ALERTS_FORMATS = ("text", "json")
WEBHOOK_FORMATS = ("json", "alertmanager", "slack")
# How bad each event is, for Alertmanager's routing (`severity` is the label its docs use).
SEVERITY = {"new-chain": "warning", "chain-gone": "info", "trust-changed": "critical",
            "expiring": "warning"}  # fmt: skip
# An Alertmanager alert without endsAt resolves after its resolve_timeout (5 m by default);
# certcensus sends no "resolved", so it says how long each alert stands.
ALERT_STANDS_SECONDS = 24 * 3600


class StdoutSink:
    def __init__(self, write: Callable[[str], None] | None = None, format: str = "text"):  # noqa: A002
        if format not in ALERTS_FORMATS:
            raise ValueError(f"alerts format {format!r} is not one of {', '.join(ALERTS_FORMATS)}")
        self._write = write or (lambda line: print(line, flush=True))
        self.format = format

    def deliver(self, event: AlertEvent) -> None:
        if self.format == "json":
            self._write(json.dumps(event.to_dict(), sort_keys=True))
        else:
            self._write(event.line())

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class QueuedSink:
    """Delivers events one at a time from a bounded queue, in a task of its own."""

    name = "sink"

    def __init__(self, warn: Callable[[str], None] = _stderr):
        self.queue: asyncio.Queue[AlertEvent] = asyncio.Queue(QUEUE_SIZE)
        self.warn = warn
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._work())

    def deliver(self, event: AlertEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.warn(f"{self.name}: queue full, dropped a {event.event} alert for {event.target}")

    async def close(self, grace: float = 10.0) -> None:
        """Give queued events `grace` seconds to go out, then stop."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), grace)
        except TimeoutError:
            self.warn(f"{self.name}: {self.queue.qsize()} alert(s) not delivered before exit")
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None

    async def _work(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                if await self.send(event):
                    self.delivered += 1
                else:
                    self.failed += 1
            except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the sink
                self.failed += 1
                self.warn(f"{self.name}: {type(error).__name__}: {error}")
            finally:
                self.queue.task_done()

    async def send(self, event: AlertEvent) -> bool:
        raise NotImplementedError


class ExecSink(QueuedSink):
    """Runs `command` with /bin/sh (so pipes and redirections work) and the event's JSON on stdin."""

    name = "exec"

    def __init__(self, command: str, timeout: float = EXEC_TIMEOUT, **kwargs):
        super().__init__(**kwargs)
        self.command = command
        self.timeout = timeout

    async def send(self, event: AlertEvent) -> bool:
        process = await asyncio.create_subprocess_shell(
            self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        data = json.dumps(event.to_dict()).encode() + b"\n"
        try:
            _, err = await asyncio.wait_for(process.communicate(data), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            self.warn(f"exec: {self.command!r} ran past {self.timeout:g} s and was killed")
            return False
        if process.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            self.warn(f"exec: {self.command!r} exited {process.returncode}: {last[0]}")
            return False
        return True


class WebhookSink(QueuedSink):
    """POSTs the event as JSON; retries network errors and 5xx/408/429 with exponential back-off."""

    name = "webhook"

    def __init__(self, url: str, *, format: str = "json", tries: int = WEBHOOK_TRIES,  # noqa: A002
                 first_delay: float = WEBHOOK_FIRST_DELAY, timeout: float = WEBHOOK_TIMEOUT,
                 **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {url!r} must start with http:// or https://")
        if format not in WEBHOOK_FORMATS:
            raise ValueError(
                f"webhook format {format!r} is not one of {', '.join(WEBHOOK_FORMATS)}"
            )
        self.url, self.tries, self.first_delay, self.timeout = url, tries, first_delay, timeout
        self.format = format

    async def send(self, event: AlertEvent) -> bool:
        data = json.dumps(webhook_payload(event, self.format)).encode()
        problem = ""
        for attempt in range(self.tries):
            if attempt:
                await asyncio.sleep(self.first_delay * 2 ** (attempt - 1))
            try:
                # urllib in a thread: one POST now and then does not justify an HTTP client
                # dependency, and the thread keeps the event loop free.
                status = await asyncio.to_thread(self._post, data)
            except urllib.error.HTTPError as error:
                status, problem = error.code, f"HTTP {error.code}"
                if status < 500 and status not in (408, 429):
                    break  # the receiver refuses this request; sending it again will not help
                continue
            except (OSError, ValueError) as error:
                problem = str(getattr(error, "reason", error))
                continue
            if 200 <= status < 300:
                return True
            problem = f"HTTP {status}"
        self.warn(f"webhook: {event.event} alert for {event.target} not delivered: {problem}")
        return False

    def _post(self, data: bytes) -> int:
        request = urllib.request.Request(
            self.url, data=data, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"certcensus/{__version__}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()
            return response.status


def webhook_payload(event: AlertEvent, format: str = "json"):  # noqa: A002 - the option's name
    """The body a webhook of `format` receives for `event` (see the module docstring)."""
    if format == "alertmanager":
        return [alertmanager_alert(event)]
    if format == "slack":
        return {"text": event.line()}
    return event.to_dict()


def alertmanager_alert(event: AlertEvent) -> dict:
    """One alert as Alertmanager's API v2 `postableAlert`: labels identify it (the same labels
    again is the same alert), annotations describe it, startsAt/endsAt bound it."""
    import datetime as dt

    started = dt.datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    ends = started + dt.timedelta(seconds=ALERT_STANDS_SECONDS)
    labels = {"alertname": "certcensus_" + event.event.replace("-", "_"),
              "target": event.target, "severity": SEVERITY.get(event.event, "warning")}  # fmt: skip
    if event.chain:
        labels["chain_id"] = event.chain
    if store := event.details.get("store"):
        labels["store"] = str(store)
    if sha256 := event.details.get("sha256"):
        labels["fingerprint_sha256"] = str(sha256)
    return {
        "labels": labels,
        "annotations": {
            "summary": str(event.details.get("summary", event.event)),
            "details": json.dumps(event.details, sort_keys=True),
        },
        "startsAt": event.time,
        "endsAt": ends.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
