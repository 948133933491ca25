"""Typer's and Click's own words in the terminal's language: "Usage:", the help panels' titles
("Options", "Arguments", "Commands", "Error"), "Show this message and exit.", "Try '... -h' for
help." and the usage errors ("No such option: --x", "Missing argument 'X'.", "Invalid value for
'--limit': ...").

Typer 0.29 vendors Click without gettext: those words are plain English strings in its code, so no
catalogue can be installed for them. `install()` (called once by `secops.cli` when the terminal
speaks Vietnamese) sets typer's panel titles, gives the usage line and the help option their
words, and translates a usage error's message, matched against the patterns below, just before
typer prints it. The words are messages of the `secops` catalogue like any other (README
"Languages"); an error message that matches no pattern is printed as Click wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from secops.i18n import _, language

_installed = False


def _patterns() -> list[tuple[re.Pattern[str], str]]:
    """Click's and typer's English messages (whole, or the prefix before a detail) and their
    translation, placeholders named after the pattern's groups."""
    pairs = [
        (r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)",
         _("No such option: {name} (possible options: {options})")),
        (r"No such option: (?P<name>\S+)", _("No such option: {name}")),
        (r"No such command '(?P<name>.*)'\.", _("No such command '{name}'.")),
        (r"Missing command\.", _("Missing command.")),
        (r"Missing argument '(?P<name>.*)'\.", _("Missing argument '{name}'.")),
        (r"Missing option '(?P<name>.*)'\.", _("Missing option '{name}'.")),
        (r"Missing parameter: (?P<name>.*)", _("Missing parameter: {name}")),
        (r"Option '(?P<name>.*)' requires an argument\.", _("Option '{name}' requires an argument.")),
        (r"Option '(?P<name>.*)' requires (?P<n>\d+) arguments\.", _("Option '{name}' requires {n} arguments.")),
        (r"Option '(?P<name>.*)' does not take a value\.", _("Option '{name}' does not take a value.")),
        (r"Got unexpected extra arguments? \((?P<args>.*)\)", _("Got unexpected extra argument(s) ({args})")),
        (r"Invalid value for (?P<name>.*?): (?P<detail>.*)", _("Invalid value for {name}: {detail}")),
        (r"Invalid value: (?P<detail>.*)", _("Invalid value: {detail}")),
        # typer checks a value's type with pydantic: the details of the commonest refusals
        (r"Input should be a valid integer.*", _("Input should be a whole number")),
        (r"Input should be a valid number.*", _("Input should be a number")),
        (r"Input should be greater than or equal to (?P<n>\S+)", _("Input should be at least {n}")),
        (r"Input should be less than or equal to (?P<n>\S+)", _("Input should be at most {n}")),
        (r"Input should be greater than (?P<n>\S+)", _("Input should be greater than {n}")),
        (r"Input should be less than (?P<n>\S+)", _("Input should be less than {n}")),
        (r"Input should be a valid boolean.*", _("Input should be true or false")),
    ]
    return [(re.compile(pattern, re.DOTALL), text) for pattern, text in pairs]


def click_message(message: str) -> str:
    """MESSAGE (a usage error's text, in English) in the terminal's language; as it is when no
    pattern matches. A detail ("Invalid value for '--x': DETAIL") is translated in its turn."""
    for pattern, text in _patterns():
        found = pattern.fullmatch(message.strip())
        if found is None:
            continue
        values = found.groupdict()
        if "detail" in values:
            values["detail"] = click_message(values["detail"])
        return text.format(**values)
    return message


def _click() -> Any:
    try:
        from typer import _click as click  # typer >= 0.29 vendors Click
    except ImportError:  # pragma: no cover - older typer depends on the click package
        import click  # type: ignore[no-redef]
    return click


def install() -> None:
    """Typer's and Click's words in the terminal's language (nothing to do in English)."""
    global _installed
    if _installed or language() == "en":
        return
    _installed = True
    from typer import rich_utils

    click = _click()
    titles = {"ARGUMENTS_PANEL_TITLE": _("Arguments"), "OPTIONS_PANEL_TITLE": _("Options"),
              "COMMANDS_PANEL_TITLE": _("Commands"), "ERRORS_PANEL_TITLE": _("Error"), "ABORTED_TEXT": _("Aborted."),
              "RICH_HELP": _("Try [blue]'{command_path} {help_option}'[/] for help."),
              "DEFAULT_STRING": _("[default: {}]"), "ENVVAR_STRING": _("[env var: {}]"),
              "REQUIRED_LONG_STRING": _("[required]"), "DEPRECATED_STRING": _("(deprecated) ")}
    for name, text in titles.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, text)

    formatter = click.formatting.HelpFormatter
    write_usage: Callable[..., None] = formatter.write_usage

    def usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, _("Usage: ") if prefix is None else prefix)

    formatter.write_usage = usage

    command = click.core.Command
    get_help_option: Callable[..., Any] = command.get_help_option

    def help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = _("Show this message and exit.")
        return option

    command.get_help_option = help_option

    format_error: Callable[[Any], None] = rich_utils.rich_format_error

    def error(self: Any) -> None:  # named as typer's: `self` is the Click exception being printed
        message = self.format_message()
        translated = click_message(message)
        if translated != message:
            self.format_message = lambda: translated
        format_error(self)

    rich_utils.rich_format_error = error
