"""certcensus(1): the man page, generated from the click commands themselves.

`python -m certcensus.cli.manpage > man/certcensus.1` (make man) writes it; the package
installs it as share/man/man1/certcensus.1 (pyproject.toml data-files), so `man certcensus`
works after `pip install`, and a test keeps the committed page equal to what this prints.

Written here rather than with click-man: that tool writes one page per subcommand
(certcensus-scan.1, ...), while `man certcensus` should show every command in one page, and
its output would change with its version; the roff needed is a few dozen lines.
"""

from __future__ import annotations

import re

import click

from certcensus import __version__

# Sections after the commands, in roff already.
TRAILER = r""".SH SHELL COMPLETION
click's completion, for bash, zsh and fish: add one line to the shell's start-up file.
.PP
.nf
.RS
# ~/.bashrc
eval "$(_CERTCENSUS_COMPLETE=bash_source certcensus)"
# ~/.zshrc
eval "$(_CERTCENSUS_COMPLETE=zsh_source certcensus)"
# ~/.config/fish/completions/certcensus.fish
_CERTCENSUS_COMPLETE=fish_source certcensus | source
.RE
.fi
.SH EXIT STATUS
0: done, and nothing found needs attention. 1: a target had no successful probe (each such
target is named on the last line), a chain is untrusted (trust), or no capture was ingested
(ingest). 2: a usage error, nothing done: a bad target, option or file, a name that does not
resolve, an unusable database or trust store. 130: interrupted by SIGINT (Ctrl-C); 143: ended by
SIGTERM (scan and demo print the census of the probes made so far first). check uses the
Nagios codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. watch and exporter exit 0 when stopped.
.SH ENVIRONMENT
.TP
.B CERTCENSUS_DB
The database when \fB\-\-db\fR is not given.
.TP
.B XDG_DATA_HOME, XDG_CACHE_HOME
Where the default database and the CA pool and AIA cache live.
.SH SEE ALSO
.BR openssl-s_client (1),
.BR openssl-verify (1),
.BR keytool (1)
"""


def roff_text(text: str) -> str:
    """Text safe in roff: backslashes escaped, hyphens as \\-, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines()
    )


def _paragraphs(help_text: str) -> list[str]:
    """click help text -> roff paragraphs; click's \\b blocks stay as typed (.nf)."""
    out = []
    for block in re.split(r"\n\s*\n", help_text.strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            body = "\n".join(line.rstrip() for line in lines[1:])
            out.append(".nf\n" + roff_text(_dedent(body)) + "\n.fi")
        else:
            out.append(roff_text(" ".join(line.strip() for line in lines)))
    return out


def _dedent(text: str) -> str:
    lines = text.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines)


def _option_heading(option: click.Option, ctx: click.Context) -> str:
    """'\\fB-q\\fR, \\fB--quiet\\fR' / '\\fB--starttls\\fR \\fIPROTO\\fR': flags bold, metavar italic."""
    flags = ", ".join(f"\\fB{roff_text(flag)}\\fR" for flag in option.opts)
    if option.secondary_opts:  # --every-ca-of-path / --only-missing
        flags += " / " + ", ".join(f"\\fB{roff_text(f)}\\fR" for f in option.secondary_opts)
    if option.is_flag or option.count:
        return flags
    return f"{flags} \\fI{roff_text(option.make_metavar(ctx))}\\fR"


def _command_section(name: str, command: click.Command, parent: click.Context) -> list[str]:
    ctx = click.Context(command, info_name=name, parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f'.SS "certcensus {roff_text(name)} {roff_text(usage)}"']
    for paragraph in _paragraphs(command.help or ""):
        lines += [paragraph, ".PP"]
    for param in command.params:  # not get_params(): click caches the help option per
        if not isinstance(param, click.Option):  # context it first saw; ours is fixed below
            continue  # arguments are in the usage line
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        help_text = " ".join(record[1].split())
        lines += [".TP", _option_heading(param, ctx), roff_text(help_text)]
    return [*lines, ".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Show this message and exit."]


def render_man_page(group: click.Group) -> str:
    """certcensus(1) in roff (man(7) macros), every command and option from `group`."""
    ctx = click.Context(group, info_name="certcensus")
    summary = (group.help or "").strip().splitlines()[0].rstrip(".")
    lines = [
        f'.TH CERTCENSUS 1 "" "certcensus {__version__}" "User Commands"',
        ".SH NAME",
        f"certcensus \\- {roff_text(summary[0].lower() + summary[1:])}",
        ".SH SYNOPSIS",
        ".B certcensus",
        "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]",
        ".SH DESCRIPTION",
    ]
    for paragraph in _paragraphs(group.help or "")[1:]:
        lines += [paragraph, ".PP"]
    lines += [
        "Every command takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR. The flags of",
        ".BR openssl\\ s_client (1)",
        "(\\fB\\-connect\\fR, \\fB\\-starttls\\fR, \\fB\\-servername\\fR, \\fB\\-CAfile\\fR,",
        "\\fB\\-CApath\\fR, \\fB\\-showcerts\\fR, ...) are accepted where they make sense.",
        ".SH COMMANDS",
    ]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None:
            lines += _command_section(name, command, ctx)
    return "\n".join(lines) + "\n" + TRAILER


def main() -> None:
    from certcensus.cli import main_group

    print(render_man_page(main_group), end="")


if __name__ == "__main__":
    main()
