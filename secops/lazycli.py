"""Sub-commands imported only when used: `secops --version` and `secops grade` do not pay for
nmap, paramiko, jinja2 or APScheduler.

A sub-command is registered by name and "module:attribute" (a typer app or a command function);
the module is imported when click asks for that command (running it, or listing `--help`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:  # annotations only: typer 0.29 vendors click, older typer uses the click package
    from typer import _click as click

_REGISTRY: dict[str, str] = {}


def lazy_command(name: str, target: str) -> None:
    """Register `secops NAME` as TARGET ("package.module:app_or_function"), imported on first use;
    "package.module:factory()" calls a function that returns the typer app. NAME "group sub" adds a
    sub-command to a group from another package (`inventory sample` lives in secops/sample/), so each
    command's code lives with the package that does its work and no package imports a higher one."""
    _REGISTRY[name] = target


def registered() -> dict[str, str]:
    """Every registered command and sub-command with its target (the tests import each one)."""
    return dict(_REGISTRY)


def _load(name: str, target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    obj: Any = getattr(importlib.import_module(module_name), attribute.removesuffix("()"))
    if attribute.endswith("()"):
        obj = obj()
    if isinstance(obj, typer.Typer):  # a group of sub-commands, as add_typer would make it
        command: click.Command = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name.rpartition(" ")[2]
    return _with_subcommands(command, name)


def _with_subcommands(command: click.Command, name: str) -> click.Command:
    """A group given the sub-commands registered as "NAME sub", each imported when asked for."""
    subs = {key.partition(" ")[2]: target for key, target in _REGISTRY.items() if key.startswith(name + " ")}
    if not subs or not isinstance(command, TyperGroup):
        return command

    class Group(type(command)):  # type: ignore[misc]
        def list_commands(self, ctx: click.Context) -> list[str]:
            own: list[str] = list(super().list_commands(ctx))
            return own + [sub for sub in subs if sub not in own]

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name in subs and cmd_name not in self.commands:
                self.commands[cmd_name] = _load(f"{name} {cmd_name}", subs[cmd_name])
            found: click.Command | None = super().get_command(ctx, cmd_name)
            return found

    command.__class__ = Group
    return command


class LazyGroup(TyperGroup):
    """The root group: eager commands as typer defines them, plus the lazily imported ones."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + [name for name in _REGISTRY if name not in eager and " " not in name]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _REGISTRY and " " not in cmd_name and cmd_name not in self.commands:
            self.commands[cmd_name] = _load(cmd_name, _REGISTRY[cmd_name])
        return super().get_command(ctx, cmd_name)
