"""Form 08 as documents each owner can sign and send: DOCX reopened with python-docx, PDF read back
with pypdf, for two owners; a retired system left out; the internal report to the owner; the PDF
signed on a SoftHSM2 token and validated by pyHanko; the archive of what was sent; Vietnamese output
without English; files written through safeio."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import docx
import openpyxl
import pytest
from annual_helpers import HOSTILE, build_register
from pypdf import PdfReader

from secops.config import Settings
from secops.inventory.retire import retire
from secops.register.annual import Options, annual_report

CONTACTS = """\
version: 1
agencies:
  P:
    owner: {name: "UBND tỉnh", representative: "Ông A, Chủ tịch", address: "1 Đường X", contact: "0200, a@x.invalid"}
    unit: {name: "Sở KHCN", representative: "Bà B", address: "2 Đường Y", contact: "0201, b@x.invalid"}
  S1:
    owner: {name: "Sở Một (chủ quản)", mandate: "QĐ 1/QĐ-UBND", representative: "Phạm Văn Một, Giám đốc",
            address: "3 Đường Z", contact: "0202, s1@x.invalid"}
    unit: {name: "Phòng An ninh mạng Sở Một", representative: "Đỗ Thị Ba, Trưởng phòng", address: "3 Đường Z",
           contact: "0203, anm1@x.invalid"}
  S2:
    owner: {name: "Sở Hai (chủ quản)", representative: "Hoàng Văn Hai, Giám đốc", address: "4 Đường W",
            contact: "0204, s2@x.invalid"}
    unit: {name: "Trung tâm CNTT Sở Hai", representative: "Vũ Thị Bốn, Giám đốc", address: "4 Đường W",
           contact: "0205, tt2@x.invalid"}
"""
ISSUERS = """\
version: 1
timezone: Asia/Ho_Chi_Minh
defaults: {place: "An Hòa", recipients: ["Lưu: VT"]}
owners:
  S1:
    number: "……/BC-SMOT"
    signer: {authority: "KT. Giám đốc", position: "Phó Giám đốc", name: "Lý Văn Ký"}
    unit_signer: {position: "Trưởng phòng An ninh mạng", name: "Đỗ Thị Ba"}
    recipients: ["UBND tỉnh (để báo cáo)", "Lưu: VT, ANM"]
  S2:
    number: "……/BC-SHAI"
    signer: {position: "Giám đốc", name: "Hoàng Văn Hai"}
"""
RETIRED = "HT05"  # owned by S1 (odd numbers), retired inside the data period
# Words and values of the English interface that must never reach a Vietnamese document.
ENGLISH = ["Appendix", "Art.", "not_met", "overdue", "approved", "drafting", "Approval", "Owner", "System", "Level",
           "Period", "Report", "Ministry", "Signature", "Decree", "None", "True", "False", "not_deployed",
           "periodic", "before_operation", "English", "Both", "ATTT", "an toàn thông tin", "Nghị định 85"]


def _settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "secops.db"), policies=tmp_path / "policies", output=tmp_path / "out")


@pytest.fixture
def province(db, tmp_path):
    index = build_register(db)
    with db.session() as session:
        retire(session, "systems", RETIRED, "thay bằng hệ thống mới", dt.date(2026, 6, 1))
        session.commit()
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "report_contacts.yaml").write_text(CONTACTS, encoding="utf-8")
    (folder / "report_issuers.yaml").write_text(ISSUERS, encoding="utf-8")
    return db, index


def _names(owner_odd: bool) -> list[str]:
    """Column (2) of an owner's rows, in code order: S1 owns the odd systems, S2 the even ones."""
    return [f"{HOSTILE[n % len(HOSTILE)]} {n}" for n in range(1, 61)
            if (n % 2 == 1) == owner_odd and f"HT{n:02d}" != RETIRED]


def _docx_text(path: Path) -> tuple[list[str], list]:  # type: ignore[type-arg]
    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    return paragraphs, document.tables


def _cell_lines(table, row: int, col: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.text for p in table.cell(row, col).paragraphs]


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_each_owner_gets_its_own_document_and_the_province_its_summary(province, tmp_path):
    db, _ = province
    out = tmp_path / "out"
    result = annual_report(db, _settings(tmp_path), 2026, out,
                           options=Options(all_owners=True, formats=("docx", "pdf", "xlsx")))
    names = sorted(p.name for p in out.iterdir() if not p.name.endswith(".csv"))
    assert names == ["form08-2026-P.docx", "form08-2026-P.pdf", "form08-2026-P.xlsx",
                     "form08-2026-S1-chu-quan.docx", "form08-2026-S1-chu-quan.pdf", "form08-2026-S1-chu-quan.xlsx",
                     "form08-2026-S2-chu-quan.docx", "form08-2026-S2-chu-quan.pdf", "form08-2026-S2-chu-quan.xlsx"]
    assert [w.report.owner_code for w in result.written] == ["S1", "S2", "P"]
    expected = {
        "S1": dict(issuer="=SỞ MỘT", number="Số: ……/BC-SMOT", owner="Sở Một (chủ quản)",
                   unit="Phòng An ninh mạng Sở Một", signer=["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"], name="Lý Văn Ký",
                   rows=_names(True), column3="=Sở Một", others="Sở Hai",
                   recipients=["- Như trên;", "- UBND tỉnh (để báo cáo);", "- Lưu: VT, ANM."]),
        "S2": dict(issuer="SỞ HAI", number="Số: ……/BC-SHAI", owner="Sở Hai (chủ quản)", unit="Trung tâm CNTT Sở Hai",
                   signer=["GIÁM ĐỐC"], name="Hoàng Văn Hai", rows=_names(False), column3="Sở Hai", others="Sở Một",
                   recipients=["- Như trên;", "- Lưu: VT."]),
    }
    for code, want in expected.items():
        # DOCX, reopened with python-docx: header block, section 2, rows, closing block.
        paragraphs, tables = _docx_text(out / f"form08-2026-{code}-chu-quan.docx")
        header, table, closing = tables
        left, right = _cell_lines(header, 0, 0), _cell_lines(header, 0, 1)
        assert left == [want["issuer"], "-------", want["number"],
                        "V/v kết quả công tác bảo đảm an ninh mạng hệ thống thông tin"]
        assert right == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "---------------",
                         "An Hòa, ngày …… tháng …… năm 2026"]
        assert "Kính gửi: Bộ Công an" in paragraphs
        assert "Kỳ số liệu: từ 15/12/2025 đến 14/12/2026" in paragraphs
        assert f"(1) Tên: {want['owner']}" in paragraphs and f"(1) Tên: {want['unit']}" in paragraphs
        total = next(p for p in paragraphs if p.startswith("- Tổng số hệ thống thông tin thuộc phạm vi quản lý:"))
        assert total.endswith(f": {len(want['rows'])};")
        assert [c.text for c in table.rows[1].cells] == [f"({n})" for n in range(1, 13)]
        body = [[c.text for c in row.cells] for row in table.rows[2:]]
        assert [r[1] for r in body] == want["rows"]  # its rows only, the retired one absent
        assert {r[2] for r in body} == {want["column3"]}
        assert [r[0] for r in body] == [str(n) for n in range(1, len(want["rows"]) + 1)]
        # The two heading rows repeat on every page.
        assert all(row._tr.trPr is not None and row._tr.trPr.find(docx.oxml.ns.qn("w:tblHeader")) is not None
                   for row in table.rows[:2])
        assert _cell_lines(closing, 0, 0) == ["Nơi nhận:", *want["recipients"]]
        sign = _cell_lines(closing, 0, 1)
        assert sign[:len(want["signer"])] == want["signer"] and sign[-1] == want["name"]
        assert "(Ký, ghi rõ họ tên, đóng dấu)" in sign
        section = docx.Document(str(out / f"form08-2026-{code}-chu-quan.docx")).sections[0]
        assert section.page_width > section.page_height  # A4 landscape
        # PDF, read back: the same content.
        pdf = out / f"form08-2026-{code}-chu-quan.pdf"
        reader = PdfReader(str(pdf))
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape, in points
        text = _flat(_pdf_text(pdf))
        for part in (want["issuer"], want["number"], "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                     "An Hòa, ngày …… tháng …… năm 2026", "Kính gửi: Bộ Công an", f"(1) Tên: {want['owner']}",
                     f"(1) Tên: {want['unit']}", "Nơi nhận:", *want["recipients"], *want["signer"], want["name"]):
            assert part in text, (code, part)
        in_section2 = sum(text.count(x) for x in (want["owner"], want["unit"]) if want["column3"] in x)
        assert text.count(want["column3"]) - in_section2 == len(want["rows"])  # column (3) once per row
        assert want["others"] not in text
        with_rows = [_flat(page.extract_text()) for page in reader.pages[1:] if want["column3"] in page.extract_text()]
        assert len(with_rows) >= 2 and all(page.count("Tên HTTT") == 1 for page in with_rows)  # headings repeat
    # The province summary holds every system still in service.
    paragraphs, tables = _docx_text(out / "form08-2026-P.docx")
    assert len(tables[1].rows) - 2 == 59
    assert any(p == "- Tổng số hệ thống thông tin thuộc phạm vi quản lý: 59;" for p in paragraphs)
    names = [p for p in paragraphs if p.startswith("(1) Tên: ")]  # section 2 for the province, then each owner
    assert names == ["(1) Tên: UBND tỉnh", "(1) Tên: Sở KHCN", "(1) Tên: Sở Một (chủ quản)",
                     "(1) Tên: Phòng An ninh mạng Sở Một", "(1) Tên: Sở Hai (chủ quản)", "(1) Tên: Trung tâm CNTT Sở Hai"]
    ws = openpyxl.load_workbook(out / "form08-2026-S1-chu-quan.xlsx")["Mẫu 08"]
    cells = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "Số: ……/BC-SMOT" in cells and "An Hòa, ngày …… tháng …… năm 2026" in cells
    assert "Nơi nhận:" in cells and "Lý Văn Ký" in cells and "- Như trên;" in cells


def test_the_internal_report_is_addressed_to_the_owner_and_signed_by_its_unit(province, tmp_path):
    db, _ = province
    out = tmp_path / "out"
    annual_report(db, _settings(tmp_path), 2026, out,
                  options=Options(owner="S1", to="owner", formats=("docx", "pdf"), issued_on=dt.date(2026, 12, 18)))
    paragraphs, (header, _, closing) = _docx_text(out / "form08-2026-S1-noi-bo.docx")
    assert "Kính gửi: Sở Một (chủ quản)" in paragraphs and "Kính gửi: Bộ Công an" not in paragraphs
    assert _cell_lines(header, 0, 0)[0] == "PHÒNG AN NINH MẠNG SỞ MỘT"
    assert _cell_lines(header, 0, 1)[-1] == "An Hòa, ngày 18 tháng 12 năm 2026"
    assert _cell_lines(closing, 0, 1)[0] == "TRƯỞNG PHÒNG AN NINH MẠNG" and _cell_lines(closing, 0, 1)[-1] == "Đỗ Thị Ba"
    text = _flat(_pdf_text(out / "form08-2026-S1-noi-bo.pdf"))
    assert "Kính gửi: Sở Một (chủ quản)" in text and "Bộ Công an" not in text


def test_vietnamese_output_has_no_english(province, tmp_path):
    db, _ = province
    out = tmp_path / "out"
    result = annual_report(db, _settings(tmp_path), 2026, out,
                           options=Options(owner="S1", formats=("docx", "pdf", "xlsx", "csv", "html")))
    texts = {}
    for path in result.files:
        if path.suffix == ".docx":
            paragraphs, tables = _docx_text(path)
            texts[path.name] = "\n".join([*paragraphs, *(c.text for t in tables for row in t.rows for c in row.cells)])
        elif path.suffix == ".pdf":
            texts[path.name] = _pdf_text(path)
        elif path.suffix == ".xlsx":
            wb = openpyxl.load_workbook(path)
            texts[path.name] = "\n".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row
                                         if c.value is not None)
        elif path.suffix == ".html":
            texts[path.name] = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
        else:
            texts[path.name] = path.read_text(encoding="utf-8-sig")
    assert {p.suffix for p in result.files} == {".docx", ".pdf", ".xlsx", ".csv", ".html"}
    hostile = "".join(HOSTILE)
    for name, text in texts.items():
        text = text.replace(hostile, "")
        for word in ENGLISH:
            assert word not in text, (name, word)
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), name  # dates are dd/mm/yyyy
    assert texts["form08-2026-S1-chu-quan-section1.csv"].splitlines()[0] == "Mục,Giá trị"
    assert texts["form08-2026-S1-chu-quan-section3.csv"].startswith("Mã hệ thống,STT,Tên HTTT")


def test_outputs_replace_a_planted_symlink(province, tmp_path):
    db, _ = province
    out = tmp_path / "out"
    out.mkdir()
    victims = {}
    for suffix in ("docx", "pdf"):
        victim = tmp_path / f"victim.{suffix}"
        victim.write_text("keep me", encoding="utf-8")
        os.symlink(victim, out / f"form08-2026-S2-chu-quan.{suffix}")
        victims[suffix] = victim
    annual_report(db, _settings(tmp_path), 2026, out, options=Options(owner="S2", formats=("docx", "pdf")))
    for suffix, victim in victims.items():
        assert victim.read_text(encoding="utf-8") == "keep me"
        target = out / f"form08-2026-S2-chu-quan.{suffix}"
        assert not target.is_symlink() and target.stat().st_size > 1000
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


SOFTHSM_LIB = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so") if Path(p).exists()), None)


def _token(tmp_path: Path) -> tuple[dict[str, str], object]:
    """A SoftHSM2 token of the test's own (own config and token folder), holding a fresh RSA key and
    its self-signed certificate under the label "ky-so"; returns the environment and the certificate."""
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    if SOFTHSM_LIB is None or shutil.which("softhsm2-util") is None or shutil.which("pkcs11-tool") is None:
        pytest.fail("SoftHSM2 and OpenSC are not installed: run scripts/install-test-deps.sh")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    encoding="utf-8")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}

    def run(*command: str) -> None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    run("softhsm2-util", "--init-token", "--free", "--label", "secops-thu", "--so-pin", "87654321", "--pin", "123456")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sở Một (chứng thư thử)")])
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "key.der").write_bytes(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    for kind, file in (("privkey", "key.der"), ("cert", "cert.der")):
        run("pkcs11-tool", "--module", SOFTHSM_LIB, "--token-label", "secops-thu", "--login", "--pin", "123456",
            "--write-object", str(tmp_path / file), "--type", kind, "--id", "01", "--label", "ky-so")
    (tmp_path / "key.der").unlink()  # the key now lives on the token only
    return env, asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _validate(pdf: bytes, cert: object) -> object:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(signatures) == 1
    return validate_pdf_signature(signatures[0], ValidationContext(trust_roots=[cert]))


def test_pdf_signed_on_a_softhsm2_token_validates(province, tmp_path, db_path, cli):
    env, cert = _token(tmp_path)
    pin = tmp_path / "pin.txt"
    pin.write_text("123456\n", encoding="utf-8")
    out = tmp_path / "signed"
    done = cli("--policies", str(tmp_path / "policies"), "report", "annual", "--year", "2026", "--owner", "S1",
               "--format", "pdf,docx", "--sign-pkcs11", SOFTHSM_LIB, "--key-label", "ky-so", "--pin-file", str(pin),
               "--out", str(out), "--record-sent", db=db_path, env={"SOFTHSM2_CONF": env["SOFTHSM2_CONF"]})
    assert done.returncode == 0, done.stderr
    assert "123456" not in done.stdout + done.stderr  # the PIN is never printed
    signed = (out / "form08-2026-S1-chu-quan.pdf").read_bytes()
    status = _validate(signed, cert)
    assert status.intact and status.valid and status.trusted and status.bottom_line  # type: ignore[attr-defined]
    assert "Lý Văn Ký" in _flat(_pdf_text(out / "form08-2026-S1-chu-quan.pdf"))
    # Signed today, the province's date (the date line is filled when the PDF is signed).
    from secops.localtime import local_today

    today = local_today()
    dated = f"ngày {today.day:02d} tháng {today.month:02d} năm {today.year}"
    assert dated in _flat(_pdf_text(out / "form08-2026-S1-chu-quan.pdf"))
    # A wrong PIN: a clear error, exit 2, the PIN not echoed, nothing written.
    pin.write_text("999999\n", encoding="utf-8")
    bad = cli("--policies", str(tmp_path / "policies"), "report", "annual", "--year", "2026", "--owner", "S2",
              "--format", "pdf", "--sign-pkcs11", SOFTHSM_LIB, "--key-label", "ky-so", "--pin-file", str(pin),
              "--out", str(out), db=db_path, env={"SOFTHSM2_CONF": env["SOFTHSM2_CONF"]})
    assert bad.returncode == 2 and "cannot open the token" in bad.stderr and "Traceback" not in bad.stderr
    assert "999999" not in bad.stderr + bad.stdout and not (out / "form08-2026-S2-chu-quan.pdf").exists()
    # No PIN file and no terminal to ask on: a clear error, not a hang or a traceback.
    import sys

    asked = subprocess.run([sys.executable, "-m", "secops", "--db", str(db_path), "report", "annual", "--year", "2026",
                            "--owner", "S1", "--format", "pdf", "--sign-pkcs11", SOFTHSM_LIB, "--key-label", "ky-so",
                            "--out", str(out)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
                           env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert asked.returncode == 2 and "give --pin-file FILE" in asked.stderr and "Traceback" not in asked.stderr
    # Signing without a PDF is refused before anything is done.
    nopdf = cli("report", "annual", "--year", "2026", "--owner", "S1", "--format", "docx", "--sign-pkcs11",
                SOFTHSM_LIB, "--key-label", "ky-so", "--pin-file", str(pin), db=db_path)
    assert nopdf.returncode == 2 and "add pdf to --format" in nopdf.stderr


def test_pdf_signed_with_a_pkcs12_file_validates(province, tmp_path):
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from secops.register.signing import SignWith

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sở Hai (thử)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .sign(key, hashes.SHA256()))
    p12 = tmp_path / "ky.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"ky", key, cert, None,
                                                          serialization.BestAvailableEncryption(b"matkhau")))
    db, _ = province
    out = tmp_path / "out"
    annual_report(db, _settings(tmp_path), 2026, out, options=Options(owner="S2", formats=("pdf",),
                                                                      sign=SignWith(pkcs12=p12), pin="matkhau"))
    status = _validate((out / "form08-2026-S2-chu-quan.pdf").read_bytes(),
                       asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))
    assert status.intact and status.valid and status.trusted  # type: ignore[attr-defined]


def test_record_sent_and_the_sent_listing(province, tmp_path, db_path, cli):
    import hashlib

    from secops.register.sent import sent_reports

    db, _ = province
    out = tmp_path / "out"
    result = annual_report(db, _settings(tmp_path), 2026, out,
                           options=Options(all_owners=True, to="owner", formats=("docx", "csv"), record_sent=True,
                                           annex=False))
    assert len(result.sent_ids) == 3
    rows = sent_reports(db, 2026)
    assert [(r.owner_code, r.recipient, r.summary) for r in rows] == [("S1", "owner", False), ("S2", "owner", False),
                                                                     ("P", "owner", True)]
    s1 = rows[0]
    assert s1.recipient_name == "Sở Một (chủ quản)" and s1.formats == "docx,csv"
    assert s1.period_start == dt.date(2025, 12, 15) and s1.period_end == dt.date(2026, 12, 14)
    assert s1.sent_at.tzinfo is not None and abs((dt.datetime.now(dt.UTC) - s1.sent_at).total_seconds()) < 600
    on_disk = {f["name"]: f["sha256"] for f in s1.files}
    assert on_disk == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                       for p in out.iterdir() if p.name.startswith("form08-2026-S1-noi-bo")}
    assert [r["code"] for r in s1.snapshot["rows"]] == [f"HT{n:02d}" for n in range(1, 61, 2) if f"HT{n:02d}" != RETIRED]
    assert s1.snapshot["section1"]["total"] == 29
    listing = cli("--policies", str(tmp_path / "policies"), "report", "sent", "--year", "2026", db=db_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("Số TT\tThời điểm ghi\tNăm\tMã chủ quản")
    assert len(lines) == 4 and "(Asia/Ho_Chi_Minh)" in lines[1] and s1.sha256 in lines[1]
    assert "\tS1\t" in lines[1] and "Sở Một (chủ quản)" in lines[1]
    empty = cli("report", "sent", "--year", "2030", db=db_path, env={"SECOPS_LANG": "vi"})
    assert empty.returncode == 0 and "Chưa có báo cáo" in empty.stdout
    empty_en = cli("report", "sent", "--year", "2030", db=db_path, env={"SECOPS_LANG": "en"})
    assert empty_en.returncode == 0 and "No report recorded as sent" in empty_en.stdout


def test_the_unmet_annex_speaks_vietnamese():
    from secops.requirements.register_link import annex_csv

    row = {"system": "HT01", "system_name": "=Cổng", "level": 3, "item": "R26-X", "clause": "6.7.2.1",
           "requirement": "Rà soát", "status": "not_met", "milestone": "2027-03-31", "responsible_unit": "",
           "evidence": ""}
    vi = annex_csv([row, {**row, "status": "overdue", "milestone": ""}], "vi").decode("utf-8-sig").splitlines()
    assert vi[0].startswith("Mã hệ thống,Tên hệ thống,Cấp độ,Mã yêu cầu,Điều khoản,Yêu cầu,Tình trạng,Thời hạn")
    assert vi[1] == "HT01,'=Cổng,3,R26-X,6.7.2.1,Rà soát,Chưa đáp ứng,31/03/2027,,"
    assert "Quá hạn thực hiện lại" in vi[2] and "overdue" not in "\n".join(vi)
    en = annex_csv([row], "en").decode("utf-8-sig").splitlines()
    assert en[0].startswith("system,system_name") and ",not_met,2027-03-31," in en[1]


def test_column_7_names_the_approving_body_and_messages_use_vietnamese_dates(province, tmp_path):
    from secops.config import bundled
    from secops.inventory.regime import load_regimes, regime_on
    from secops.register.bodies import body_name
    from secops.store.tables import AgencyRow, SystemRow

    db, _ = province
    with db.session() as session:
        approved = [s for s in session.query(SystemRow).filter(SystemRow.approval_status == "approved",
                                                                SystemRow.code.in_([f"HT{n:02d}" for n in range(1, 61, 2)]))
                    .order_by(SystemRow.code)]
        untyped, late = approved[0], approved[1]
        untyped.approval_body = None  # the register does not say who approved: the regime's body for that level
        late.regulation_date = dt.date(2026, 9, 5)  # after the approval of 01/09/2026
        code, level, late_code = untyped.code, untyped.level, late.code
        session.commit()
    out = tmp_path / "out"
    result = annual_report(db, _settings(tmp_path), 2026, out, options=Options(owner="S1", formats=("docx",)))
    with db.session() as session:
        top = session.query(AgencyRow).filter(AgencyRow.parent_id.is_(None)).one()
        top_code, top_name = top.code, top.name
    approved_on = dt.date(2026, 9, 1)
    body = body_name(level, approved_on, regime_on(load_regimes(bundled("policies")), approved_on), top_code,
                     province_label=top_name)
    _, tables = _docx_text(out / "form08-2026-S1-chu-quan.docx")
    row = next(r for r in tables[1].rows[2:] if r.cells[1].text.endswith(f" {int(code[2:])}"))
    assert row.cells[6].text.endswith(f"ngày 01/09/2026, {body}") and body
    late_violation = next(v for v in result.violations if v.code == late_code)
    assert late_violation.params == {"regulation": "05/09/2026", "approval": "01/09/2026"}


def test_bad_issuers_file_and_conflicting_options_are_clear_errors(province, tmp_path, db_path, cli):
    (tmp_path / "policies" / "report_issuers.yaml").write_text(
        "version: 1\nowners:\n  S1: {signer: {name: X, rank: Y}}\n", encoding="utf-8")
    bad = cli("--policies", str(tmp_path / "policies"), "report", "annual", "--year", "2026", "--owner", "S1",
              "--format", "docx", "--out", str(tmp_path / "o"), db=db_path)
    assert bad.returncode == 2 and "report_issuers.yaml" in bad.stderr and "rank" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "o").exists()
    both = cli("report", "annual", "--year", "2026", "--owner", "S1", "--all-owners", db=db_path)
    assert both.returncode == 2 and "give one of them" in both.stderr
    to = cli("report", "annual", "--year", "2026", "--to", "bo", db=db_path)
    assert to.returncode == 2 and "--to: 'bo'" in to.stderr
    date = cli("report", "annual", "--year", "2026", "--date", "19/12/2026", db=db_path)
    assert date.returncode == 2 and "expected YYYY-MM-DD" in date.stderr
