"""What the dashboard says about incomplete runs, in words of the report's language."""

from __future__ import annotations

from types import SimpleNamespace

from secops.report.reasons import missing_text, reason_text
from secops.report.sections.discovery import skipped_agencies
from secops.templating import visible


def t_vi(key: str, **kwargs: object) -> str:
    from secops.config import bundled
    from secops.templating import translator

    return translator(bundled("reports"), "vi")(key, **kwargs)


def test_skipped_agencies_are_read_from_the_run_errors() -> None:
    run = SimpleNamespace(id=7, status="partial", errors=[
        "QT-H2: skipped: 70000 addresses would exceed limits.max_addresses (65536) for this run in scope.yaml",
        "QT-X: in the scope file but not in the inventory; skipped",
        "QT-H1: target 10.0.0.0/8 is outside the ranges authorised",  # not scanned: message text
        "interrupted: 2 of 4 chunk(s) did not finish",
        "chunk 127.0.3.0/32: failed: nmap failed"])
    skipped = skipped_agencies([run, run], {"QT-H1", "QT-H2"})
    assert [(s["agency"], s["kind"]) for s in skipped] == [("QT-H2", "budget"), ("QT-X", "not_in_inventory"),
                                                           ("QT-H1", "failed")]
    assert skipped[0]["addresses"] == "70000" and skipped[0]["limit"] == "65536"
    text = t_vi("disc_skipped_budget", addresses="70000", limit="65536")
    assert "70000" in text and "bỏ qua" in text


def test_reasons_and_missing_fields_in_vietnamese() -> None:
    reason, missing = reason_text(t_vi), missing_text(t_vi)
    assert reason("no evidence") == "chưa có bằng chứng"
    assert reason("no protection product found") == "không tìm thấy sản phẩm bảo vệ"
    assert reason("evidence too old: 40 days (max 30), was protected") == \
        "bằng chứng quá cũ: 40 ngày (tối đa 30), trước đó: Được bảo vệ"
    assert reason("console export KSC: x.csv row 3") == "console export KSC: x.csv row 3"  # data stays data
    assert missing("missing training_date") == "thiếu ngày đào tạo"
    assert reason("unreachable: [Errno 111] Connection refused") == "không kết nối được: [Errno 111] Connection refused"
    assert reason("error: no credentials: ") == "chưa cấu hình thông tin đăng nhập"


def test_bidi_and_zero_width_characters_are_shown() -> None:
    assert visible("a\u202eb\u200bc") == "a⟦U+202E⟧b⟦U+200B⟧c"
    assert visible("Sở Tài chính") == "Sở Tài chính"


def test_macro_output_is_not_escaped_twice() -> None:
    """finalize once turned a macro's escaped Markup back into text: `&amp;lt;` on the page."""
    from markupsafe import Markup

    from secops.templating import finalize

    out = finalize(Markup("&lt;img&gt; \u202e"))
    assert isinstance(out, Markup) and str(out) == "&lt;img&gt; ⟦U+202E⟧"
