"""openssl s_client's flags, for the fingers that type them from memory.

`certcensus scan -connect mail.example.com:25 -starttls smtp -servername mail.example.com
-CAfile roots.pem -showcerts` means what s_client would make of it. Each flag is a click option
spelled with s_client's single dash, listed in --help, and folded into the command's own option
(`-servername` into `--sni`, `-CAfile` into `--trust-store`, ...) before the command runs, by
`apply_habits` (cli/command.py calls it). Giving both spellings with different values is a
usage error, not a silent choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click
from click.core import ParameterSource


@dataclass(frozen=True)
class Habit:
    flag: str  # as s_client spells it
    maps_to: str  # the command's parameter it feeds
    how: str  # "target", "value", "append", "flag" or "profile"
    metavar: str | None
    help: str


HABITS = {
    habit.flag: habit
    for habit in (
        Habit("-connect", "targets", "target", "HOST:PORT", "The target (host:port)."),
        Habit("-starttls", "starttls", "value", "PROTO", "= --starttls PROTO."),
        Habit("-servername", "sni", "value", "NAME", "= --sni NAME."),
        Habit("-noservername", "no_sni", "flag", None, "= --no-sni."),
        Habit("-CAfile", "trust_stores", "append", "FILE", "= --trust-store FILE."),
        Habit("-CApath", "trust_stores", "append", "DIR", "= --trust-store DIR."),
        Habit("-showcerts", "show_certs", "flag", None, "= --show-certs."),
        Habit("-tls1_2", "tls1.2", "profile", None, "= --profile tls1.2."),
        Habit("-tls1_3", "tls1.3", "profile", None, "= --profile tls1.3."),
    )
}


class HabitOption(click.Option):
    """An s_client flag: parsed like any option, then folded into `habit.maps_to`."""

    def __init__(self, param_decls, *, habit: Habit, **attrs):
        super().__init__(param_decls, **attrs)
        self.habit = habit


def sclient_options(*flags: str) -> Callable[[Callable], Callable]:
    """Add these s_client flags (keys of HABITS) to a command, after its own options."""

    def decorate(function):
        for flag in reversed(flags):
            habit = HABITS[flag]
            name = "sclient_" + flag.lstrip("-").lower()
            if habit.metavar is None:
                option = click.option(flag, name, cls=HabitOption, habit=habit, is_flag=True,
                                      help=habit.help)  # fmt: skip
            else:
                option = click.option(flag, name, cls=HabitOption, habit=habit,
                                      metavar=habit.metavar, help=habit.help)  # fmt: skip
            function = option(function)
        return function

    return decorate


def format_options_with_habits(
    command: click.Command, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """--help: the command's options, then its s_client flags in a section of their own."""
    own: list[tuple[str, str]] = []
    habits: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            (habits if isinstance(param, HabitOption) else own).append(record)
    if own:
        with formatter.section("Options"):
            formatter.write_dl(own)
    if habits:
        with formatter.section("openssl s_client habits (each maps to the option named)"):
            formatter.write_dl(habits)


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def apply_habits(ctx: click.Context) -> None:
    """Fold each given s_client flag into the option it stands for, in ctx.params."""
    for param in ctx.command.params:
        if not isinstance(param, HabitOption) or param.name is None:
            continue
        value = ctx.params.pop(param.name, None)
        if value in (None, False):
            continue
        habit = param.habit
        if habit.how == "target":
            _add_target(ctx, value)
        elif habit.how == "append":
            # First: s_client's one store is the client's, the one its user cares about.
            ctx.params[habit.maps_to] = (value, *ctx.params.get(habit.maps_to, ()))
        elif habit.how == "flag":
            ctx.params[habit.maps_to] = True
        elif habit.how == "profile":
            _add_profile(ctx, habit.maps_to, habit.flag)
        else:
            _set_value(ctx, param, habit, value)


def _set_value(ctx: click.Context, param: HabitOption, habit: Habit, value: str) -> None:
    target = next(p for p in ctx.command.params if p.name == habit.maps_to)
    value = target.type.convert(value, param, ctx)  # -starttls POSTGRESQL -> postgres
    current = ctx.params.get(habit.maps_to)
    if _given(ctx, habit.maps_to) and current != value:
        raise click.UsageError(
            f"{habit.flag} {value} and {target.opts[0]} {current} disagree; give one", ctx
        )
    ctx.params[habit.maps_to] = value


def _add_target(ctx: click.Context, value: str) -> None:
    if "targets" in ctx.params:
        ctx.params["targets"] = (*ctx.params["targets"], value)
        return
    if ctx.params.get("target") not in (None, value):
        raise click.UsageError(
            f"-connect {value} and the target {ctx.params['target']} disagree; give one", ctx
        )
    ctx.params["target"] = value


def _add_profile(ctx: click.Context, profile: str, flag: str) -> None:
    if "profile_list" in ctx.params:  # scan: a list of profiles
        given = _given(ctx, "profile_list")
        current = ctx.params["profile_list"]
        ctx.params["profile_list"] = f"{current},{profile}" if given else profile
        return
    if _given(ctx, "profile") and ctx.params.get("profile") != profile:
        raise click.UsageError(
            f"{flag} and --profile {ctx.params['profile']} disagree; give one", ctx
        )
    ctx.params["profile"] = profile
