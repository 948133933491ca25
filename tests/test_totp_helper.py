"""The tests' TOTP helper makes codes the server still accepts when a step boundary passes before it
checks them. Before, the helper used the previous step's code (now-1) at any moment: made in the
last second of a step and checked after the boundary it was two steps old and refused, which failed
sign-ins (and `make_users`) on a loaded machine now and then."""

from __future__ import annotations

import datetime as dt

import pyotp

from tests.web_helpers import SAFE_SECONDS, _oldest_safe_step

SLOW = dt.timedelta(seconds=SAFE_SECONDS - 1)  # a loaded machine's delay between making and checking a code


def test_a_code_made_near_a_step_boundary_is_still_accepted_after_it() -> None:
    totp = pyotp.TOTP(pyotp.random_base32())
    boundary = dt.datetime(2026, 12, 7, 20, 0, 30, tzinfo=dt.UTC)  # a multiple of the 30 s interval
    assert boundary.timestamp() % totp.interval == 0
    for seconds_before in (0.2, 1, 5, 9.5, 10.5, 15, 29.9):
        made = boundary - dt.timedelta(seconds=seconds_before)
        code = totp.generate_otp(_oldest_safe_step(totp, made))
        # the server's window: the checked moment's step, one before and one after (users.store.verify_totp)
        assert totp.verify(code, for_time=made + SLOW, valid_window=1), seconds_before


def test_the_previous_step_is_used_when_it_is_safe() -> None:
    """Far from a boundary the helper still leaves now and now+1 free for the next sign-ins."""
    totp = pyotp.TOTP(pyotp.random_base32())
    made = dt.datetime(2026, 12, 7, 20, 0, 5, tzinfo=dt.UTC)
    assert _oldest_safe_step(totp, made) == totp.timecode(made) - 1
