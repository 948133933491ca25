"""How a check pack's `c:` command runs on a POSIX host: as Wazuh runs it (both dialects), without a
shell, stdout and stderr through one pipe; the sh text that does so with every word quoted."""

from __future__ import annotations

import shlex


def wazuh_argv(command: str) -> list[str]:
    """A command's words as Wazuh's wm_exec gets them (shared/string_op.c l.1149-1202, w_strtok, then
    execvp in wazuh_modules/wm_exec.c l.401-425, both dialects): split on spaces, double quotes
    group (and go), a backslash takes the next character literally; no shell, so no pipes,
    redirections, variables or globs."""
    words: list[str] = []
    accum: str | None = None
    quoting = False
    i = 0
    while i < len(command):
        char = command[i]
        if char == " " and not quoting:
            if accum is not None:
                words.append(accum)
                accum = None
        elif char == '"':
            accum = accum or ""  # "" is a word of its own
            quoting = not quoting
        elif char == "\\":
            if i + 1 < len(command):
                i += 1
                accum = (accum or "") + command[i]
        else:
            accum = (accum or "") + char
        i += 1
    if accum is not None:
        words.append(accum)
    return words


def command_line(command: str, timeout: int) -> str:
    """The sh text that runs a pack's command as Wazuh does: its words quoted, exec'd by `timeout`
    (or `env`), stdout and stderr in one pipe, stdin from /dev/null."""
    argv = wazuh_argv(command)
    if not argv:
        return "env -- ''"  # nothing to run: execvp of an empty name fails, as Wazuh's does
    return f"tmo {timeout} " + " ".join(shlex.quote(word) for word in argv) + " </dev/null 2>&1"
