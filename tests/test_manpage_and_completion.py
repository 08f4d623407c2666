"""certcensus(1) and shell completion: the committed man page is what the generator makes of the
commands now, man renders it, a real `pip install` puts it where `man certcensus` finds it;
completion works in real bash, zsh and fish through click's _CERTCENSUS_COMPLETE."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from certcensus.cli import main_group
from certcensus.cli.manpage import render_man_page

from .servers import missing

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "man" / "certcensus.1"
BIN = Path(sys.executable).parent  # where this environment's `certcensus` script is


def tool(name: str) -> str:
    return shutil.which(name) or missing(
        f"{name} is not installed (scripts/install-debian-packages.sh)"
    )


def shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_committed_page_is_what_the_commands_generate():
    assert PAGE.read_text() == render_man_page(main_group), (
        "man/certcensus.1 is out of date: run `make man` and commit it"
    )


def test_man_renders_the_page_without_warnings():
    man, groff = tool("man"), tool("groff")
    env = {**os.environ, "MANWIDTH": "100", "MANPAGER": "cat", "PAGER": "cat"}
    shown = subprocess.run([man, "-l", str(PAGE)], capture_output=True, text=True, env=env,
                           check=True)  # fmt: skip
    text = shown.stdout
    assert text.startswith("CERTCENSUS(1)")
    for name in ("scan", "report", "trust", "export", "ingest", "diff", "watch", "check", "demo"):
        assert f"certcensus {name} [OPTIONS]" in text
    assert "-connect HOST:PORT" in text and "--json-lines" in text
    assert "_CERTCENSUS_COMPLETE=bash_source certcensus" in text
    lint = subprocess.run([groff, "-man", "-ww", "-z", str(PAGE)], capture_output=True, text=True)
    assert lint.returncode == 0 and lint.stderr == "", lint.stderr


def test_pip_install_puts_the_page_where_man_finds_it(tmp_path):
    man = tool("man")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = wheels.glob("certcensus-*.whl")
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)  # this pip installs into it (--python): no ensurepip
    subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"),
                    "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)  # fmt: skip
    installed = target / "share" / "man" / "man1" / "certcensus.1"
    assert installed.read_text() == PAGE.read_text()
    # man-db looks for ../share/man beside each PATH entry: the venv's bin is enough.
    env = {"PATH": f"{target / 'bin'}:/usr/bin:/bin", "MANPAGER": "cat", "MANWIDTH": "80",
           "HOME": str(tmp_path)}  # fmt: skip
    where = subprocess.run([man, "-w", "certcensus"], capture_output=True, text=True, env=env)
    assert where.stdout.strip() == str(installed), where.stderr
    shown = subprocess.run([man, "certcensus"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "certcensus scan [OPTIONS]" in shown.stdout


def complete(shell: str, words: str, current: int) -> list[str]:
    """What click's completion protocol answers for the words typed so far."""
    env = {**shell_env(), "_CERTCENSUS_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(current)}  # fmt: skip
    done = subprocess.run([str(BIN / "certcensus")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_bash_completes_commands_options_and_protocols():
    bash = tool("bash")
    script = """
        eval "$(_CERTCENSUS_COMPLETE=bash_source certcensus)"
        show() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=();
                 _certcensus_completion certcensus; echo "${COMPREPLY[*]}"; }
        show certcensus sc
        show certcensus scan --json-l
        show certcensus scan --starttls po
        show certcensus scan -CAf
    """
    done = subprocess.run([bash, "--norc", "-c", script], capture_output=True, text=True,
                          env=shell_env(), check=True)  # fmt: skip
    assert done.stdout.splitlines() == ["scan", "--json-lines", "pop3 postgres", "-CAfile"]


def test_zsh_loads_the_completion_and_the_protocol_answers():
    zsh = tool("zsh")
    script = (
        'autoload -Uz compinit && compinit -u -d "$TMPDIR/zcompdump" && '
        'eval "$(_CERTCENSUS_COMPLETE=zsh_source certcensus)" && whence -w _certcensus_completion'
    )
    env = {**shell_env(), "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
    done = subprocess.run([zsh, "-f", "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_certcensus_completion: function"
    # zsh's script asks the same protocol: type, value, help per candidate.
    answer = complete("zsh", "certcensus scan --starttls po", 3)
    assert answer[:6] == ["plain", "pop3", "_", "plain", "postgres", "_"]


def test_fish_completes_a_command_line():
    fish = tool("fish")
    script = (
        "_CERTCENSUS_COMPLETE=fish_source certcensus | source; "
        "complete -C 'certcensus sc'; complete -C 'certcensus scan --starttls xm'"
    )
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    env = {**shell_env(), "XDG_CONFIG_HOME": str(home), "XDG_DATA_HOME": str(home)}
    done = subprocess.run([fish, "--no-config", "-c", script], capture_output=True, text=True,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    candidates = [line.split("\t")[0] for line in done.stdout.splitlines()]
    assert candidates == ["scan", "xmpp", "xmpp-server"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_its_script(shell):
    env = {**shell_env(), "_CERTCENSUS_COMPLETE": f"{shell}_source"}
    done = subprocess.run([str(BIN / "certcensus")], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "_CERTCENSUS_COMPLETE" in done.stdout
