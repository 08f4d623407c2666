"""The `watch` and `check` commands as a user runs them (in-process; the lead registers them)."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import socket
import subprocess
import sys

import click

from certcensus.cli.check import check
from certcensus.cli.watch import watch
from certcensus.lab.pool import Backend, running_pool

from .helpers import APPEND_STDIN, WebhookReceiver


def run(command, capsys, *args):
    """As certcensus.cli.main runs a command: click errors become their exit code."""
    capsys.readouterr()
    try:
        command.main([str(a) for a in args], prog_name="certcensus", standalone_mode=False)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    except click.ClickException as error:
        code = error.exit_code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_watch_from_targets_file_alerts_to_exec_and_webhook(two_chains, tmp_path, capsys):
    exec_log = tmp_path / "events.jsonl"
    with (
        running_pool(two_chains.backends, protocol="smtp", choice="round-robin") as pool,
        WebhookReceiver() as receiver,
    ):
        targets = tmp_path / "certcensus.toml"
        targets.write_text(
            f'[[target]]\ntarget = "127.0.0.1:{pool.port}"\nstarttls = "smtp"\ncount = 10\n'
        )
        code, out, err = run(
            watch,
            capsys,
            "--targets-file",
            targets,
            "--every",
            "0.1s",
            "--rounds",
            "2",
            "--rate",
            "0",
            "--warn-days",
            "3650",
            "--db",
            tmp_path / "w.sqlite",
            "--exec",
            f"{sys.executable} -c '{APPEND_STDIN}' {exec_log}",
            "--webhook",
            receiver.url,
            "--metrics-port",
            "0",
        )
        hooked = receiver.wait_for(4)
    assert code == 0, err
    # Two chains, two certificates each: every certificate expires within 10 years, once each.
    lines = [line for line in out.splitlines() if " ALERT expiring " in line]
    assert len(lines) == 4
    assert "metrics on http://127.0.0.1:" in err
    executed = [json.loads(line) for line in exec_log.read_text().splitlines()]
    for events in (executed, hooked):
        assert sorted(e["details"]["sha256"] for e in events) == sorted(
            c.sha256 for b in two_chains.backends for c in (b.leaf, *b.chain)
        )
        assert {e["event"] for e in events} == {"expiring"}


def test_watch_usage_errors(capsys, tmp_path):
    assert run(watch, capsys)[0] == 2  # no targets
    assert run(watch, capsys, "127.0.0.1:25", "--every", "soon")[0] == 2
    bad = tmp_path / "targets.txt"
    bad.write_text("127.0.0.1:25 --colour blue\n")
    code, _, _ = run(watch, capsys, "--targets-file", bad)
    assert code == 2


def test_the_fleet_files_engine_reaches_watch(cli, tmp_path):
    # OpenSSL cannot send java-17's ClientHello: refused before any probe, as on the command line.
    fleet = tmp_path / "certcensus.toml"
    fleet.write_text('[watch]\nengine = "openssl"\n[[target]]\ntarget = "127.0.0.1:1"\n'
                     'profile = "java-17"\n')  # fmt: skip
    result = cli("watch", "--targets-file", fleet, "--rounds", 1, "--db", tmp_path / "w.sqlite")
    assert result.code == 2 and "profile java-17 needs --engine native" in result.err, result.err


def test_check_ok_on_one_chain(two_chains, capsys):
    with running_pool([two_chains.old], protocol="smtp") as pool:
        port = pool.port
        code, out, _ = run(check, capsys, f"127.0.0.1:{port}", "--starttls", "smtp", "--rate", "0")
    assert code == 0, out
    status, *chains = out.splitlines()
    assert status.startswith(
        f"CERTCENSUS OK - 127.0.0.1:{port}: 1 chain, 30/30 probes ok, expires in "
    )
    # Nagios ranges: "30:" warns below 30 days, "7:" is critical below 7.
    assert re.search(
        r" \| days_left=\d+;30:;7: chains=1;1;;0 probes=30;;;0 ok=30;;;0 failed=0;0;;0$", status
    )
    assert len(chains) == 2  # the long output: the chain, and why no name was checked
    assert chains[0].startswith("chain #1 ") and "30/30 probes (100.0%)" in chains[0]
    assert chains[1] == "no name checked: an address, and no --sni"


def test_check_warns_on_two_chains_unless_allowed(two_chains, capsys):
    with running_pool(two_chains.backends, protocol="smtp", choice="round-robin") as pool:
        target = f"127.0.0.1:{pool.port}"
        code, out, _ = run(
            check, capsys, target, "--starttls", "smtp", "--count", "10", "--rate", "0"
        )
        assert (code, out.split(" - ")[0]) == (1, "CERTCENSUS WARNING"), out
        assert "2 different chains served (50%, 50%)" in out
        code, out, _ = run(
            check,
            capsys,
            target,
            "--starttls",
            "smtp",
            "--count",
            "10",
            "--rate",
            "0",
            "--allow-multiple",
        )
        assert code == 0, out


def test_check_critical_on_expired_leaf(pki, two_chains, capsys):
    ca = two_chains.old.chain[0]
    now = dt.datetime.now(dt.UTC)
    expired = pki.leaf(
        ["127.0.0.1"],
        ca,
        key_type="ec256",
        not_before=now - dt.timedelta(days=90),
        not_after=now - dt.timedelta(days=1),
    )
    with running_pool([Backend("expired", expired, [ca])], protocol="smtp") as pool:
        port = pool.port
        code, out, _ = run(
            check,
            capsys,
            f"127.0.0.1:{pool.port}",
            "--starttls",
            "smtp",
            "--count",
            "5",
            "--rate",
            "0",
        )
    assert code == 2
    assert out.startswith(
        f"CERTCENSUS CRITICAL - 127.0.0.1:{port}: 1 chain, 5/5 probes ok: chain #1"
    )
    assert "expired" in out and re.search(r" \| days_left=-[12];30:;7: ", out)  # a day ago


def test_check_critical_when_untrusted_by_the_given_store(two_chains, tmp_path, capsys):
    old_root = tmp_path / "old-root.pem"
    old_root.write_bytes(two_chains.roots[0].pem)
    with running_pool(two_chains.backends, protocol="smtp", choice="round-robin") as pool:
        code, out, _ = run(
            check,
            capsys,
            f"127.0.0.1:{pool.port}",
            "--starttls",
            "smtp",
            "--count",
            "10",
            "--rate",
            "0",
            "--allow-multiple",
            "--trust-store",
            f"corp={old_root}",
        )
    assert code == 2, out
    assert "untrusted by corp" in out and out.count("untrusted") == 1


def test_check_usage_errors_exit_3_when_dispatched_by_a_group(capsys):
    group = click.Group(commands=[check])  # as `certcensus check ...` reaches it
    for args in (["check", "127.0.0.1:25", "--nope"], ["check", "127.0.0.1:25", "--count", "-1"]):
        code, out, _ = run(group, capsys, *args)
        assert code == 3 and out.startswith("CERTCENSUS UNKNOWN - usage:"), (args, out)
    code, out, _ = run(group, capsys, "check")
    assert code == 3 and out.startswith("CERTCENSUS UNKNOWN - no target: give TARGET or -H HOST")


def test_check_critical_on_closed_port_unknown_on_bad_input(capsys):
    # A service that refuses connections is down: CRITICAL, as check_ssl_cert says it.
    code, out, _ = run(
        check, capsys, f"127.0.0.1:{closed_port()}", "--starttls", "smtp", "--count", "3"
    )
    assert code == 2
    assert out.startswith("CERTCENSUS CRITICAL - no probe of 127.0.0.1:") and "refused 3" in out
    for args in (
        [],
        ["a:b:c:d:e"],
        ["127.0.0.1:25", "-H", "127.0.0.1"],
        ["-H", "127.0.0.1", "-w", "5", "-c", "10"],
        ["127.0.0.1:25", "--count", "zero"],
        ["127.0.0.1:25", "--nope"],
        ["127.0.0.1:25", "--trust-store", "/no/such/file.pem"],
    ):
        code, out, _ = run(check, capsys, *args)
        assert code == 3, (args, out)
        assert out.startswith("CERTCENSUS UNKNOWN - "), out


def test_watch_runs_until_interrupted(two_chains, tmp_path):
    """A long --every: round 1 runs, then the watch waits until Ctrl-C and exits cleanly."""
    with running_pool([two_chains.old], protocol="smtp") as pool:
        process = subprocess.Popen(
            [sys.executable, "-c", "from certcensus.cli.watch import watch; watch()",
             f"127.0.0.1:{pool.port}", "--starttls", "smtp", "--every", "1h", "--count", "5",
             "--rate", "0", "--warn-days", "3650", "--db", str(tmp_path / "w.sqlite")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            first = process.stdout.readline()  # round 1's first alert: the watch is waiting now
            assert " ALERT expiring " in first
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            # Not communicate(): it reads the pipes past the buffer that readline() filled.
            out, err = first + process.stdout.read(), process.stderr.read()
        finally:
            process.kill()
            process.stdout.close()
            process.stderr.close()
    assert process.returncode == 0, err
    assert "watch ended after 1 round(s), 2 alert(s)" in err
    assert out.count(" ALERT expiring ") == 2


def test_fleet_file_settings_json_alert_lines_and_webhook_formats(two_chains, tmp_path, capsys):
    """Everything from the targets file: every, count, alerts as JSON lines, two webhooks in
    Alertmanager's and Slack's shapes; the command line still wins (--rounds)."""
    with (
        running_pool([two_chains.old], protocol="smtp") as pool,
        WebhookReceiver() as alertmanager,
        WebhookReceiver() as slack,
    ):
        targets = tmp_path / "certcensus.toml"
        targets.write_text(
            f'[watch]\nevery = "0.1s"\ncount = 5\nrate = 0\nwarn_days = 3650\nmin_share = 0.3\n'
            f'alerts_format = "json"\ndb = "{tmp_path / "w.sqlite"}"\nrounds = 5\n'
            f'[[alerts.webhook]]\nurl = "{alertmanager.url}"\nformat = "alertmanager"\n'
            f'[[alerts.webhook]]\nurl = "{slack.url}"\nformat = "slack"\n'
            f'[[target]]\ntarget = "127.0.0.1:{pool.port}"\nstarttls = "smtp"\n'
        )
        port = pool.port
        code, out, err = run(watch, capsys, "--targets-file", targets, "--rounds", "1", "-q")
        posted, chatted = alertmanager.wait_for(2), slack.wait_for(2)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["expiring", "expiring"]
    assert {e["details"]["sha256"] for e in events} == {
        two_chains.old.leaf.sha256,
        two_chains.old.chain[0].sha256,
    }
    for body in posted:  # Alertmanager's POST /api/v2/alerts body: a list of alerts
        (alert,) = body
        assert alert["labels"]["alertname"] == "certcensus_expiring"
        assert alert["labels"]["target"] == f"127.0.0.1:{port}"
        assert alert["labels"]["severity"] == "warning" and alert["annotations"]["summary"]
        assert alert["startsAt"] < alert["endsAt"]
    assert all(set(body) == {"text"} and " ALERT expiring " in body["text"] for body in chatted)
    assert "watch ended after 1 round(s)" not in err  # -q


def test_check_critical_when_the_leaf_does_not_match_the_host_or_sni(two_chains, capsys):
    """The leaf is for pool.test and 127.0.0.1: -H with the address matches its IP SAN only
    when a name is checked, so --sni decides (the one rule in model/names.py)."""
    with running_pool([two_chains.old], protocol="smtp") as pool:
        port = str(pool.port)
        good = run(check, capsys, "-H", "127.0.0.1", "-p", port, "--starttls", "smtp",
                   "--sni", "pool.test", "--count", "5", "--rate", "0")  # fmt: skip
        bad = run(check, capsys, "-H", "127.0.0.1", "-p", port, "--starttls", "smtp",
                  "--sni", "other.test", "--count", "5", "--rate", "0")  # fmt: skip
    assert good[0] == 0, good[1]
    assert "valid for pool.test" in good[1]
    assert bad[0] == 2, bad[1]
    assert "leaf pool.test is not valid for other.test" in bad[1].splitlines()[0]
    assert "NAME MISMATCH" in bad[1].splitlines()[1]


def test_check_critical_on_an_incomplete_chain_unless_allowed(two_chains, capsys):
    leaf_only = Backend("leaf-only", two_chains.old.leaf, [])  # the intermediate is not sent
    with running_pool([leaf_only], protocol="smtp") as pool:
        target = f"127.0.0.1:{pool.port}"
        strict = run(check, capsys, target, "--starttls", "smtp", "--count", "5", "--rate", "0")
        allowed = run(check, capsys, target, "--starttls", "smtp", "--count", "5", "--rate", "0",
                      "--allow-incomplete")  # fmt: skip
    assert strict[0] == 2, strict[1]
    assert "incomplete chain: the server did not send the issuer of the leaf" in strict[1]
    assert "Test Old CA-1" in strict[1]
    assert allowed[0] == 1 and "incomplete chain" in allowed[1], allowed[1]


def test_check_minds_the_overall_timeout():
    """-t is the whole check: a silent server gets timeouts within it, and the answer comes
    before the monitoring system's own deadline (the subprocess timeout)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "certcensus", "check", f"127.0.0.1:{port}", "--starttls",
             "none", "-t", "2", "--count", "3", "--rate", "0"],
            capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout
    assert (
        result.stdout.startswith("CERTCENSUS CRITICAL - no probe of ")
        and "timeout 3" in result.stdout
    )
