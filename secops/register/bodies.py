"""The name of the body that approved a level, for column (7) of Form 08.

One function, one place: today it reads the approving body's text of the regime in force on the
approval date (policies/regimes/*.yaml, `levels.N.body`). When approving bodies become data of
their own (per province, with their renames over time), this is the function that reads them.
"""

from __future__ import annotations

import datetime as dt

from secops.inventory.regime import Regime, regime_on


def body_name(regimes: list[Regime], level: int, approved_on: dt.date, lang: str = "vi") -> str:
    """The approving body of `level` under the regime in force on `approved_on`."""
    body = regime_on(regimes, approved_on).levels[level].body
    return body.get(lang)
