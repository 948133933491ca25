"""Turn a parser's low-level failure on a hostile file into `file: reason` (SecopsError).

The CSV readers decode and split text themselves; undecodable bytes, NUL characters or a field
over the csv module's size limit would otherwise escape as a traceback. (Issue 15 adds encoding
detection for Excel's UTF-16 and cp1258 exports; this guard stays as the last resort.)
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from secops.errors import SecopsError


@contextmanager
def input_errors(path: Path | str) -> Iterator[None]:
    try:
        yield
    except UnicodeDecodeError as exc:
        raise SecopsError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as CSV UTF-8") from exc
    except csv.Error as exc:
        raise SecopsError(f"{path}: not a readable CSV file ({exc})") from exc
    except RecursionError as exc:
        raise SecopsError(f"{path}: nested too deeply") from exc
