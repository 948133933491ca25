"""Who issues, signs and receives each Form 08 document: data in policies/report_issuers.yaml.

The form's header and closing blocks (Decree 331/2026, Appendix, Form 08; layout of an
administrative document as officers write it) are filled from this file, never from code:
the document number's fixed part, the place, the signer's position and name, the seal, and the
"Nơi nhận" list. Each owner (agency code) may override any field of `defaults`; a field nobody
set prints as the placeholder "……" for the officer to fill in Word or LibreOffice.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from secops.config import policy_path
from secops.policyfile import load_model

ISSUERS_FILE = "report_issuers.yaml"
BLANK = "……"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signer(_Strict):
    authority: str | None = Field(default=None, description='signing on behalf, e.g. "KT. GIÁM ĐỐC" (first line)')
    position: str = BLANK
    name: str = BLANK


class IssuerPatch(_Strict):
    """Any subset of an issuer's fields (an owner's entry overrides the defaults field by field)."""

    parent: str | None = None
    number: str | None = None
    place: str | None = None
    signer: Signer | None = None
    unit_signer: Signer | None = None
    seal: bool | None = None
    recipients: list[str] | None = None
    ministry_recipient: str | None = None


class Issuer(_Strict):
    parent: str | None = Field(default=None, description="governing body printed above the issuer's name")
    number: str = Field(default=f"{BLANK}/BC-{BLANK}", description='"Số:" as printed; the office adds the number')
    place: str = BLANK
    signer: Signer = Field(default_factory=Signer, description="signs the report to the Ministry (the owner's head)")
    unit_signer: Signer = Field(default_factory=Signer,
                                description="signs the internal report to the owner (the cybersecurity unit's head)")
    seal: bool = True
    recipients: list[str] = Field(default_factory=lambda: ["Lưu: VT"],
                                  description='"Nơi nhận" after "Như trên" (the addressee)')
    ministry_recipient: str | None = Field(default=None, description="Kính gửi for --to ministry [default: the regime's]")


class IssuersFile(_Strict):
    version: int = 1
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="the province's zone, for times shown to people")
    defaults: IssuerPatch = Field(default_factory=IssuerPatch)
    owners: dict[str, IssuerPatch] = Field(default_factory=dict)


def load_issuers(policies: Path) -> IssuersFile:
    path = policy_path(policies, ISSUERS_FILE)
    return load_model(path, IssuersFile) if path.exists() else IssuersFile()


def issuer_for(data: IssuersFile, code: str) -> Issuer:
    """The defaults, overridden field by field by the owner's own entry."""
    merged: dict[str, object] = {}
    for patch in (data.defaults, data.owners.get(code)):
        if patch is not None:
            merged.update({k: v for k, v in patch.model_dump().items() if v is not None})
    return Issuer.model_validate(merged)
