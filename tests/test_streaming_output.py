"""Output for fleets and long runs: `--json-lines` writes each target's census as soon as it is
done (the real command, read line by line while it still runs), `| head` ends it cleanly, and
the stop-when-sure progress display (on a real pseudo-terminal) says how many probes are still
needed and how long they take at the current rate."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys

import pytest

from certcensus.cli.progress import RateMeter, StopWhenSureEstimate, estimate_words
from certcensus.lab.pki import PKI
from certcensus.lab.pool import Backend, running_pool
from certcensus.model.coverage_bound import probes_needed


@pytest.fixture(scope="module")
def backend():
    pki = PKI()
    root = pki.root("Stream Root", key_type="ec256")
    ca = pki.intermediate("Stream CA", root, key_type="ec256")
    return Backend("only", pki.leaf(["pool.test", "127.0.0.1"], ca, key_type="ec256"), [ca])


@contextlib.contextmanager
def silent_listener():
    """A port that accepts connections (the kernel's backlog) and never says a word: each probe
    of it waits for --timeout, or until the listener is closed (its pending connections are
    then reset). Yields (port, close)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield listener.getsockname()[1], listener.close


def certcensus(*args) -> list[str]:
    return [sys.executable, "-m", "certcensus", *map(str, args)]


def test_json_lines_streams_each_target_as_it_completes(backend, tmp_path, cli):
    db = tmp_path / "db.sqlite"
    with running_pool([backend]) as fast, running_pool([backend]) as also_fast, \
            silent_listener() as (slow, release):  # fmt: skip
        names = [f"127.0.0.1:{fast.port}", f"127.0.0.1:{slow}", f"127.0.0.1:{also_fast.port}"]
        process = subprocess.Popen(
            certcensus("scan", *names, "--starttls", "none", "--count", 20, "--rate", 0,
                       "--timeout", 120, "--json-lines", "--db", db),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(2)]
        # The fast targets' lines are out while the silent one still holds every probe of it.
        running_after_two = process.poll() is None
        release()  # its connections are reset: its census completes
        lines += [json.loads(line) for line in process.stdout]
        assert process.wait() == 1  # a target without a successful probe, named last:
        assert process.stderr is not None
        last = process.stderr.read().strip().splitlines()[-1]
        assert last == f"certcensus: error: no successful probe of {names[1]} (reset 20/20)"
    assert running_after_two
    assert {line["target"] for line in lines[:2]} == {names[0], names[2]}  # in either order
    assert lines[2]["target"] == names[1] and lines[2]["ok"] == 0
    assert sum(lines[2]["errors"].values()) == 20
    assert [line["ok"] for line in lines[:2]] == [20, 20]
    # Each line is the target's element of the census JSON, exactly.
    report = cli("report", "--db", db, "--json").json["targets"]
    assert sorted(lines, key=lambda t: t["target"]) == sorted(report, key=lambda t: t["target"])
    streamed = cli("report", "--db", db, "--json-lines")
    assert [json.loads(line) for line in streamed.out.splitlines()] == report


def test_json_lines_into_head_ends_cleanly(backend, tmp_path):
    with running_pool([backend]) as one, running_pool([backend]) as two, \
            silent_listener() as (slow, _):  # fmt: skip
        command = " ".join(certcensus("scan", f"127.0.0.1:{one.port}", f"127.0.0.1:{two.port}",
                                      f"127.0.0.1:{slow}", "--starttls", "none", "--count", 10,
                                      "--rate", 0, "--timeout", 3, "--json-lines",
                                      "--db", tmp_path / "db.sqlite"))  # fmt: skip
        done = subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} | head -n 1"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert json.loads(done.stdout)["ok"] == 10
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_the_estimate_in_words():
    assert estimate_words(None, 10.0) == ""
    assert estimate_words(0, 10.0) == "sure: finishing"
    assert estimate_words(1594, None) == "~1,594 probes to go"
    assert estimate_words(1594, 37.9) == "~1,594 probes to go, ~0:42 left"
    assert estimate_words(50_000, 10.0) == "~50,000 probes to go, ~1:23:20 left"


def test_the_rate_is_that_of_the_last_seconds():
    now = [0.0]
    meter = RateMeter(clock=lambda: now[0])
    for second in range(40):  # 100 probes/s for 20 s, then 10/s
        now[0] = float(second)
        meter.add(second * 100 if second <= 20 else 2000 + (second - 20) * 10)
    assert meter.per_second() == pytest.approx(10.0, rel=0.2)
    remaining = [500]
    estimate = StopWhenSureEstimate(lambda: remaining[0], clock=lambda: now[0])
    for step in range(5):
        now[0] = 100.0 + step
        estimate.update(step * 25)
    assert estimate.words == "~500 probes to go, ~0:20 left"


def test_stop_when_sure_progress_shows_probes_to_go_and_time_left(backend, tmp_path):
    """The real display, on a pseudo-terminal: the scan's own goal (probes_needed for one
    stratum at the defaults) minus what is done, and a time."""
    goal = probes_needed(0.01, 0.99)
    with running_pool([backend]) as pool:
        controller, terminal = pty.openpty()
        env = {**os.environ, "TERM": "xterm", "COLUMNS": "160"}
        process = subprocess.Popen(
            certcensus("scan", f"127.0.0.1:{pool.port}", "--starttls", "none", "--rate", 300,
                       "--db", tmp_path / "db.sqlite"),
            stdout=subprocess.DEVNULL, stderr=terminal, env=env,
        )  # fmt: skip
        os.close(terminal)
        shown = b""
        while True:  # read the terminal until the scan closes it
            readable, _, _ = select.select([controller], [], [], 1.0)
            if not readable:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the other end closed
                break
            if not data:
                break
            shown += data
        assert process.wait() == 0
        os.close(controller)
    plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", shown).decode(errors="replace")
    estimates = re.findall(
        r"(\d+)/(\d+) 1 chains \S+ ~([\d,]+) probes to go, ~(\d+:\d\d) left", plain
    )
    assert estimates, plain[-2000:]
    for done, total, to_go, _ in estimates:
        to_go_count = int(to_go.replace(",", ""))
        assert to_go_count <= goal
        assert int(total) >= int(done)
    assert max(int(to_go.replace(",", "")) for _, _, to_go, _ in estimates) > goal // 2
