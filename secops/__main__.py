"""`python -m secops`.

In a checkout installed by scripts/install.sh the libraries live in ./.venv: a bare
`python3 -m secops ...` (the system Python, without them) runs the same command with the venv's
Python instead of failing on the first import. Without a venv it says what to install, exit 2.
"""

import os
import sys
from pathlib import Path


def _start() -> None:
    try:
        from secops.cli import main
    except ModuleNotFoundError as exc:
        if (exc.name or "secops").split(".")[0] == "secops":
            raise  # our own module missing is a bug, not an environment to fix
        checkout = Path(__file__).resolve().parent.parent
        venv_python = checkout / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parent.parent.resolve():
            os.execv(venv_python, [str(venv_python), "-m", "secops", *sys.argv[1:]])
        sys.stderr.write(f"error: secops cannot start: the library {exc.name!r} is not installed for "
                         f"{sys.executable}; install secops with scripts/install.sh (it makes ./.venv), "
                         "then run .venv/bin/secops\n")
        raise SystemExit(2) from None
    main()


_start()
