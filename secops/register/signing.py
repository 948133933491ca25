"""Digital signature of the Form 08 PDF with pyHanko: a PKCS#12 file or a PKCS#11 token.

The PIN (or the PKCS#12 passphrase) is read from a file or asked for at the prompt, passed to the
library and dropped: never stored, never logged, never part of an error message. The signature is
a PAdES baseline signature (pyHanko's default sub-filter) in a new, invisible signature field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from secops.errors import SecopsError

FIELD = "ChuKySo"
REASON = "Ký số báo cáo kết quả công tác bảo đảm an ninh mạng hệ thống thông tin (Mẫu số 08)"


@dataclass(frozen=True)
class SignWith:
    """How to sign: pkcs12 (a file) or pkcs11 (a library, a key label, optionally a token label)."""

    pkcs12: Path | None = None
    pkcs11_lib: Path | None = None
    key_label: str | None = None
    token_label: str | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        if (self.pkcs12 is None) == (self.pkcs11_lib is None):
            raise SecopsError("signing: give exactly one of --sign-pkcs12 FILE or --sign-pkcs11 LIB")
        if self.pkcs11_lib is not None and not self.key_label:
            raise SecopsError("--sign-pkcs11: --key-label is required (the label of the signing key on the token)")
        for path, option in ((self.pkcs12, "--sign-pkcs12"), (self.pkcs11_lib, "--sign-pkcs11")):
            if path is not None and not path.is_file():
                raise SecopsError(f"{option} {path}: no such file")


def read_pin(pin_file: Path | None, prompt: bool = True) -> str:
    """The PIN from the first line of pin_file, else asked for (hidden). Never echoed or logged."""
    if pin_file is not None:
        try:
            return pin_file.read_text(encoding="utf-8").splitlines()[0] if pin_file.stat().st_size else ""
        except OSError as exc:
            raise SecopsError(f"--pin-file {pin_file}: cannot read: {exc.strerror or exc}") from None
        except IndexError:
            return ""
    if not prompt:
        raise SecopsError("signing needs a PIN: give --pin-file FILE")
    import getpass
    import sys

    if not sys.stdin.isatty():
        raise SecopsError("signing needs a PIN and there is no terminal to ask for it: give --pin-file FILE")
    try:
        return getpass.getpass("PIN / mật khẩu khóa ký: ")
    except (EOFError, KeyboardInterrupt):
        raise SecopsError("signing: no PIN given") from None


def sign_pdf(data: bytes, how: SignWith, pin: str) -> bytes:
    """The PDF with one more revision holding the signature."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    meta = signers.PdfSignatureMetadata(field_name=FIELD, reason=REASON, location=how.location)
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    if how.pkcs12 is not None:
        signer = signers.SimpleSigner.load_pkcs12(  # type: ignore[no-untyped-call]
            str(how.pkcs12), passphrase=pin.encode("utf-8") or None)
        if signer is None:
            raise SecopsError(f"--sign-pkcs12 {how.pkcs12}: cannot open (wrong passphrase or not a PKCS#12 file)")
        return _signed(signers.sign_pdf(writer, meta, signer=signer))
    return _sign_pkcs11(writer, meta, how, pin)


def _signed(out: object) -> bytes:
    return out.getvalue()  # type: ignore[attr-defined,no-any-return]


def _sign_pkcs11(writer: object, meta: object, how: SignWith, pin: str) -> bytes:
    from pkcs11.exceptions import PKCS11Error as TokenError
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign import pkcs11, signers
    from pyhanko.sign.general import SigningError

    try:
        label = how.token_label or _only_token(str(how.pkcs11_lib))
        session = pkcs11.open_pkcs11_session(str(how.pkcs11_lib), token_criteria=TokenCriteria(label=label),
                                             user_pin=pin)
    except (TokenError, SigningError, OSError, RuntimeError) as exc:
        # The library's message names the token or the failure, never the PIN.
        raise SecopsError(f"--sign-pkcs11 {how.pkcs11_lib}: cannot open the token: "
                          f"{type(exc).__name__} {exc}".strip()) from None
    try:
        signer = pkcs11.PKCS11Signer(session, key_label=how.key_label, cert_label=how.key_label)
        return _signed(signers.sign_pdf(writer, meta, signer=signer))  # type: ignore[arg-type]
    except (TokenError, SigningError) as exc:
        raise SecopsError(f"--sign-pkcs11: key {how.key_label!r}: cannot sign: {type(exc).__name__} {exc}") from None
    finally:
        session.close()


def _only_token(lib: str) -> str:
    """The label of the one initialised token the library offers (SoftHSM also lists a free slot)."""
    from pkcs11 import TokenFlag
    from pyhanko.sign.pkcs11 import p11_lib  # type: ignore[attr-defined]  # pyHanko's cached loader

    labels = [token.label for slot in p11_lib(lib).get_slots(token_present=True)
              if TokenFlag.TOKEN_INITIALIZED in (token := slot.get_token()).flags]
    if len(labels) != 1:
        found = ", ".join(repr(label) for label in labels) or "none"
        raise SecopsError(f"--sign-pkcs11 {lib}: {len(labels)} initialised tokens ({found}); name one with --token-label")
    return labels[0]
