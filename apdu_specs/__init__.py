"""The card profile as data: file tree, records, keys, status words, commands and EMV tags.

The TOML files beside this module are the one source of truth; the simulator builds cards from them, cardlib
decodes what it reads with them, and the docs quote them. This module only loads and indexes them.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
DEFAULT_PROFILE = "sscard_v3"


@dataclass(frozen=True)
class RecordSpec:
    number: int
    tag: int
    length: int
    field: str
    label: str
    encoding: str


@dataclass(frozen=True)
class FileSpec:
    name: str
    type: str  # MF, DF, record, cyclic, binary
    fid: bytes | None = None
    parent: str | None = None
    aid: bytes | None = None
    sfi: int | None = None
    label: str = ""
    read: str = "always"
    update: str = "never"
    size: int | None = None
    record_length: int | None = None
    record_count: int | None = None
    extension: bool = False
    records: tuple[RecordSpec, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_df(self) -> bool:
        return self.type in ("MF", "DF")

    def record(self, *, number: int | None = None, tag: int | None = None) -> RecordSpec | None:
        for r in self.records:
            if (number is not None and r.number == number) or (tag is not None and r.tag == tag):
                return r
        return None


@dataclass(frozen=True)
class KeySpec:
    usage: str
    label: str
    p2: int
    extension: bool = False


@dataclass(frozen=True)
class Profile:
    name: str
    card: dict[str, Any]
    files: tuple[FileSpec, ...]
    keys: tuple[KeySpec, ...]
    diversification: dict[str, Any]

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"no file {name!r} in profile {self.name}")

    def key(self, usage: str) -> KeySpec:
        for k in self.keys:
            if k.usage == usage:
                return k
        raise KeyError(f"no key for {usage!r} in profile {self.name}")

    def field(self, field_name: str) -> tuple[FileSpec, RecordSpec]:
        """The file and record that hold a named field (e.g. "ssn")."""
        try:
            return self._fields[field_name]
        except KeyError:
            raise KeyError(f"no field {field_name!r} in profile {self.name}") from None

    @cached_property
    def _fields(self) -> dict[str, tuple[FileSpec, RecordSpec]]:
        """Field name -> (file, record), the first holder of each name: looked up for every record read."""
        found: dict[str, tuple[FileSpec, RecordSpec]] = {}
        for f in self.files:
            for r in f.records:
                found.setdefault(r.field, (f, r))
        return found

    @property
    def ssse(self) -> FileSpec:
        return self.file("SSSE")

    @property
    def atr(self) -> bytes:
        return bytes.fromhex(self.card["atr"])


def _hex(value: str | None) -> bytes | None:
    return bytes.fromhex(value) if value else None


def _load_toml(name: str) -> dict[str, Any]:
    with open(HERE / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


@cache
def profile(name: str = DEFAULT_PROFILE) -> Profile:
    data = _load_toml(name)
    files = []
    for f in data["files"]:
        records = tuple(
            RecordSpec(
                number=r["number"], tag=int(r["tag"], 16), length=r["length"], field=r["field"],
                label=r["label"], encoding=r["encoding"],
            )
            for r in f.get("records", ())
        )
        files.append(
            FileSpec(
                name=f["name"], type=f["type"], fid=_hex(f.get("fid")), parent=f.get("parent"), aid=_hex(f.get("aid")),
                sfi=f.get("sfi"), label=f.get("label", ""), read=f.get("read", "always"),
                update=f.get("update", "never"), size=f.get("size"), record_length=f.get("record_length"),
                record_count=f.get("record_count"), extension=f.get("extension", False), records=records, raw=f,
            )
        )
    keys = tuple(
        KeySpec(usage=k["usage"], label=k["label"], p2=int(k["p2"], 16), extension=k.get("extension", False))
        for k in data.get("keys", ())
    )
    return Profile(name=name, card=data["card"], files=tuple(files), keys=keys,
                   diversification=data.get("diversification", {}))


@dataclass(frozen=True)
class StatusWordSpec:
    pattern: str
    name: str
    meaning: str
    code: int | None = None

    def matches(self, sw: int) -> bool:
        text = f"{sw:04X}"
        p = self.pattern.upper()
        if p.endswith("XX"):
            return text[:2] == p[:2]
        if p.endswith("X"):
            return text[:3] == p[:3]
        return text == p


@cache
def status_words() -> tuple[StatusWordSpec, ...]:
    return tuple(
        StatusWordSpec(pattern=s["sw"], name=s["name"], meaning=s["meaning"], code=s.get("code"))
        for s in _load_toml("status_words")["sw"]
    )


def status_word(sw: int) -> StatusWordSpec | None:
    """The table entry for a status word; exact entries win over patterns."""
    table = status_words()
    for s in table:
        if s.pattern.upper() == f"{sw:04X}":
            return s
    for s in table:
        if s.matches(sw):
            return s
    return None


@cache
def personalization() -> dict[str, Any]:
    """The personalization protocol (apdu_specs/personalization.toml): CPLC, STORE DATA, EJECT, the DGIs."""
    return _load_toml("personalization")


@cache
def interface_codes() -> dict[str, int]:
    """The reader interface's error codes by name, for failures that are not one status word."""
    return dict(_load_toml("status_words")["interface_codes"])


def status_word_by_name(name: str) -> int:
    """The status word for a name in the table (patterns give their base value, e.g. 63C0)."""
    for s in status_words():
        if s.name == name:
            return int(s.pattern.upper().replace("X", "0"), 16)
    raise KeyError(f"no status word named {name!r}")


@cache
def commands() -> tuple[dict[str, Any], ...]:
    return tuple(_load_toml("commands")["command"])


@cache
def emv_tags() -> dict[int, dict[str, Any]]:
    return {int(tag, 16): spec for tag, spec in _load_toml("emv_tags")["tags"].items()}


@cache
def psam() -> dict[str, Any]:
    """The simulated PSAM's command set and key references (apdu_specs/psam.toml)."""
    return _load_toml("psam")


@cache
def applet_profile(name: str) -> dict[str, Any]:
    """An applet profile by file name (e.g. "pboc_debit"): records, AFL, PDOL as data."""
    return _load_toml(name)
