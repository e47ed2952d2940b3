"""The social-security application on the card OS: ISO 7816-4 file commands over the profile's tree, with the
SSSE's keys, PIN and access rules (apdu_specs/sscard_v3.toml).

One object serves the MF and every DF of the profile (SSSE and DF01-DF04): SELECT by FID or path from anywhere,
READ/UPDATE RECORD by number or tag, APPEND RECORD (cyclic files), READ/UPDATE BINARY (SFI in P1), GET
CHALLENGE, INTERNAL/EXTERNAL AUTHENTICATE, VERIFY, CHANGE PIN and PIN UNBLOCK. Commands with the secure-messaging
class (CLA 04/84) carry a 4-byte MAC, checked against the last challenge before the command runs.

Every change that must survive power loss (records, binaries, PIN and its counter) is saved through the card image
before the card answers 9000; a failed save undoes the change and answers 6581.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Callable

from cardlib import tlv
from cardlib.crypto import Ecb, alg_id, block_size, decrypt_ecb, encrypt_ecb, mac, unpad_80

from .filesystem import FileTree, Node
from .image import CardImage
from .status import OK, Command, SwError, answers, parse, sw

MAC_LENGTH = 4
RECORD_FILES = ("record", "cyclic")
# File descriptor bytes (ISO 7816-4 tag 82) by the profile's file type.
DESCRIPTOR = {"binary": 0x01, "record": 0x04, "cyclic": 0x06}

Handler = Callable[["SsseApplet", "Command", bytes, bool], bytes]


class SsseApplet:
    """The file system and security state of the social-security application. See the module docstring."""

    defer_select = True  # SELECT answers 61xx; the host fetches the FCI with GET RESPONSE

    def __init__(self, image: CardImage, tree: FileTree) -> None:
        self.image = image
        self.tree = tree
        self.profile = tree.profile
        self.app_df = tree.nodes[self.profile.ssse.name]
        self._ciphers: dict[str, tuple[bytes, Ecb]] = {}
        self._fcis: dict[tuple[str, str], bytes] = {}
        self.reset()

    def __repr__(self) -> str:
        return f"SsseApplet(current={self.current_df.name}/{self.current_ef.name if self.current_ef else '-'})"

    # -- state -------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        self.current_df: Node = self.tree.mf
        self.current_ef: Node | None = None
        self.deselect()

    def deselect(self) -> None:
        """Another applet took over: the PIN, external authentication and the challenge no longer hold."""
        self.pin_ok = False
        self.ext_auth = False
        self.challenge: bytes | None = None

    def _app_of(self, node: Node) -> Node | None:
        while node is not None:
            if node is self.app_df:
                return node
            node = node.parent  # type: ignore[assignment]
        return None

    def _in_app(self) -> bool:
        return self._app_of(self.current_df) is not None

    def _commit(self, undo: Callable[[], None]) -> bytes:
        """Persist the image; if that fails, undo the in-memory change and report a memory failure."""
        try:
            self.image.save()
        except OSError:
            undo()
            raise SwError("memory_failure") from None
        return OK

    # -- entry points ------------------------------------------------------------------------------------------

    @answers
    def select(self, aid: bytes) -> bytes:
        node = self.tree.by_aid(aid)
        if node is None:
            raise SwError("file_not_found")
        return self._enter(node, 0x00)

    @answers
    def process(self, apdu: bytes) -> bytes:
        cmd = parse(apdu)
        entry = COMMANDS.get(cmd.ins)
        if entry is None:
            raise SwError("ins_not_supported")
        handler, proprietary = entry
        if cmd.cla & 0xFB != (0x80 if proprietary else 0x00):  # 04: the secure-messaging bit
            raise SwError("cla_not_supported")
        data, secured = cmd.data, False
        if cmd.cla & 0x04:
            data, secured = self._unwrap(cmd), True
        return handler(self, cmd, data, secured)

    # -- secure messaging --------------------------------------------------------------------------------------

    def _unwrap(self, cmd: Command) -> bytes:
        """Check the MAC of a CLA 04/84 command; the data without the MAC (SwError when it does not hold)."""
        if cmd.extended or len(cmd.data) < MAC_LENGTH:
            raise SwError("sm_missing")
        challenge, self.challenge = self.challenge, None  # single use, whatever the outcome
        if challenge is None:
            raise SwError("data_invalid")
        key = self.image.keys.get("pin_unblock" if cmd.ins == 0x24 else "update")
        if key is None:
            raise SwError("data_not_found")
        payload, given = cmd.data[:-MAC_LENGTH], cmd.data[-MAC_LENGTH:]
        header = cmd.header + bytes([len(cmd.data)])
        expected = mac(self.image.alg, key, header + payload, iv=challenge, length=MAC_LENGTH)
        if not hmac.compare_digest(expected, given):
            raise SwError("sm_incorrect")
        return payload

    def _allow(self, rule: str, secured: bool) -> None:
        """Returns when the access rule is met; SwError saying why not otherwise."""
        if rule == "always" or (rule == "pin" and self.pin_ok) or (rule == "ext_auth" and self.ext_auth):
            return
        if rule == "mac":
            if secured:
                return
            raise SwError("sm_missing")
        raise SwError("security_not_satisfied")

    # -- SELECT ------------------------------------------------------------------------------------------------

    def _select(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1 == 0x00:
            node = self.tree.mf if not data else self.tree.by_fid(self.current_df, data) if len(data) == 2 else None
        elif cmd.p1 == 0x08:
            node = self.tree.by_path(data)
        elif cmd.p1 == 0x04:
            node = self.tree.by_aid(data)
        else:
            raise SwError("wrong_p1p2")
        if node is None:
            raise SwError("file_not_found")
        return self._enter(node, cmd.p2)

    def _enter(self, node: Node, p2: int) -> bytes:
        if self._app_of(node.df) is not self._app_of(self.current_df):
            self.deselect()
        self.current_df = node.df
        self.current_ef = None if node.is_df else node
        if p2 & 0x0C == 0x0C:
            return OK
        return self._fci(node) + OK

    def _fci(self, node: Node) -> bytes:
        """The node's FCI/FCP; built once per node (it depends on the profile and the card's algorithm only)."""
        name = (node.name, self.image.alg)
        fci = self._fcis.get(name)
        if fci is None:
            fci = self._fcis[name] = self._build_fci(node)
        return fci

    def _build_fci(self, node: Node) -> bytes:
        spec = node.spec
        if not node.is_df:
            fcp = [tlv.Tlv(0x82, bytes([DESCRIPTOR.get(spec.type, 0x01)])), tlv.Tlv(0x83, spec.fid or b"")]
            if spec.type == "binary" and spec.size is not None:
                fcp.append(tlv.Tlv(0x80, spec.size.to_bytes(2, "big")))
            return tlv.encode(0x62, fcp)
        if spec.aid is None:
            return tlv.encode(0x6F, [tlv.Tlv(0x83, spec.fid or b"")])
        parts = [tlv.Tlv(0x84, spec.aid)]
        alg_tag = spec.raw.get("fci_algorithm_tag")
        if alg_tag:
            # CARD-FACTS: the algorithm id is carried as 9F0C 03 86 01 xx.
            inner = tlv.encode(0x86, bytes([alg_id(self.image.alg)]))
            parts.append(tlv.Tlv(0xA5, tlv.encode(int(alg_tag, 16), inner)))
        return tlv.encode(0x6F, parts)

    # -- records -----------------------------------------------------------------------------------------------

    def _current_ef(self) -> Node:
        if self.current_ef is None:
            raise SwError("no_current_ef")
        return self.current_ef

    def _ef_by_sfi(self, sfi: int) -> Node:
        if sfi == 0:
            return self._current_ef()
        node = self.tree.by_sfi(self.current_df, sfi)
        if node is None:
            raise SwError("file_not_found")
        return node

    def _record_file(self, cmd: Command, modes: tuple[int, ...]) -> Node:
        if cmd.p2 & 0x07 not in modes:
            raise SwError("wrong_p1p2")
        ef = self._ef_by_sfi(cmd.p2 >> 3)
        if ef.spec.type not in RECORD_FILES:
            raise SwError("incompatible_file")
        return ef

    def _records(self, ef: Node) -> list[bytes]:
        return self.image.files.setdefault(ef.spec.name, [])

    @staticmethod
    def _index(records: list[bytes], cmd: Command) -> int | None:
        """The 0-based index of the record P1 names: by number (P2 low bits 4) or by tag (P2 low bits 0)."""
        if cmd.p2 & 0x07 == 0x04:
            ok = 1 <= cmd.p1 <= len(records) and records[cmd.p1 - 1]
            return cmd.p1 - 1 if ok else None
        return next((i for i, r in enumerate(records) if r and r[0] == cmd.p1), None)

    def _read_record(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        ef = self._record_file(cmd, (0x04, 0x00))
        rule = ef.spec.read
        if rule != "always":
            self._allow(rule, secured)
        self.current_ef = ef
        records = self._records(ef)
        i = self._index(records, cmd)
        if i is None:
            raise SwError("record_not_found")
        return _answer(cmd, records[i])

    def _check_record(self, ef: Node, cmd: Command, data: bytes) -> tuple[int, bytes]:
        """Where an UPDATE RECORD goes and whether its data fits there: (index, record); SwError if not."""
        records = self._records(ef)
        if ef.spec.type == "cyclic":
            i = self._index(records, cmd)
            if i is None:
                raise SwError("record_not_found")
            if len(data) != ef.spec.record_length:
                raise SwError("wrong_length")
            return i, data
        by_number = cmd.p2 & 0x07 == 0x04
        spec = ef.spec.record(number=cmd.p1) if by_number else ef.spec.record(tag=cmd.p1)
        if spec is None:
            raise SwError("record_not_found")
        try:
            tag, value = tlv.decode_record(data)
        except tlv.TlvError:
            raise SwError("wrong_data") from None
        if tag != spec.tag:
            raise SwError("wrong_data")
        if len(value) != spec.length:
            raise SwError("wrong_length")
        return spec.number - 1, data

    def _update_record(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        ef = self._record_file(cmd, (0x04, 0x00))
        self._allow(ef.spec.update, secured)
        self.current_ef = ef
        i, record = self._check_record(ef, cmd, data)
        records = self._records(ef)
        before = list(records)
        records.extend([b""] * (i + 1 - len(records)))
        records[i] = record
        return self._commit(lambda: records.__setitem__(slice(None), before))

    def _append_record(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1 != 0:
            raise SwError("wrong_p1p2")
        ef = self._record_file(cmd, (0x00,))
        self._allow(ef.spec.update, secured)
        self.current_ef = ef
        if ef.spec.type != "cyclic":
            raise SwError("not_enough_memory")
        if len(data) != ef.spec.record_length:
            raise SwError("wrong_length")
        records = self._records(ef)
        before = list(records)
        records.insert(0, data)
        del records[ef.spec.record_count or len(records):]
        return self._commit(lambda: records.__setitem__(slice(None), before))

    # -- binaries ----------------------------------------------------------------------------------------------

    def _binary(self, cmd: Command) -> tuple[Node, int]:
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                raise SwError("wrong_p1p2")
            ef, offset = self._ef_by_sfi(cmd.p1 & 0x1F), cmd.p2
        else:
            ef, offset = self._current_ef(), (cmd.p1 << 8) | cmd.p2
        if ef.spec.type != "binary":
            raise SwError("incompatible_file")
        return ef, offset

    def _body(self, ef: Node) -> bytearray:
        body = self.image.files.get(ef.name)
        if body is None:
            body = self.image.files[ef.name] = bytearray(ef.spec.size or 0)
        return body  # type: ignore[no-any-return]

    def _read_binary(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        ef, offset = self._binary(cmd)
        self._allow(ef.spec.read, secured)
        self.current_ef = ef
        body = self._body(ef)
        available = len(body) - offset
        if available <= 0:
            raise SwError("wrong_p1p2_offset")
        le = cmd.le if cmd.le is not None else 256
        if le != 256 and le > available:
            raise SwError("wrong_le", available)
        return bytes(body[offset:offset + min(le, available)]) + OK

    def _update_binary(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        ef, offset = self._binary(cmd)
        self._allow(ef.spec.update, secured)
        self.current_ef = ef
        if not data:
            raise SwError("wrong_length")
        body = self._body(ef)
        if offset > len(body):
            raise SwError("wrong_p1p2_offset")
        if offset + len(data) > len(body):
            raise SwError("not_enough_memory")
        before = bytes(body[offset:offset + len(data)])
        body[offset:offset + len(data)] = data
        return self._commit(lambda: body.__setitem__(slice(offset, offset + len(before)), before))

    # -- authentication ----------------------------------------------------------------------------------------

    def _key(self, usage: str) -> bytes | None:
        return self.image.keys.get(usage) if self._in_app() else None

    def _cipher(self, usage: str, key: bytes) -> Ecb:
        """The cipher of the card's static key for `usage`, set up once (again if personalization changed it)."""
        kept = self._ciphers.get(usage)
        if kept is None or kept[0] != key or kept[1].alg != self.image.alg:
            kept = self._ciphers[usage] = (key, Ecb(self.image.alg, key))
        return kept[1]

    def _get_challenge(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1 or cmd.p2:
            raise SwError("wrong_p1p2")
        if cmd.le not in (4, 8) or data:
            raise SwError("wrong_length")
        self.challenge = secrets.token_bytes(cmd.le)
        return self.challenge + OK

    def _internal_authenticate(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1 or cmd.p2 != self.profile.key("internal_auth").p2:
            raise SwError("wrong_p1p2")
        if len(data) != 16:
            raise SwError("wrong_length")
        key = self._key("internal_auth")
        if key is None:
            raise SwError("data_not_found")
        alg = self.image.alg
        session = self._cipher("internal_auth", key).diversify(data[:8])
        return encrypt_ecb(alg, session, data[8:].ljust(block_size(alg), b"\x00")) + OK

    def _external_authenticate(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1:
            raise SwError("wrong_p1p2")
        key = self._key("external_auth") if cmd.p2 == self.profile.key("external_auth").p2 else None
        if key is None:
            raise SwError("data_not_found")
        challenge, self.challenge = self.challenge, None
        if challenge is None:
            raise SwError("data_invalid")
        alg = self.image.alg
        if len(data) != block_size(alg):
            raise SwError("wrong_length")
        expected = self._cipher("external_auth", key).encrypt(challenge.ljust(block_size(alg), b"\x00"))
        self.ext_auth = hmac.compare_digest(expected, data)
        if not self.ext_auth:
            raise SwError("security_not_satisfied")
        return OK

    # -- PIN ---------------------------------------------------------------------------------------------------

    def _pin_digits(self, data: bytes) -> str | None:
        text = data.hex().upper()
        if text.endswith("F"):
            text = text[:-1]
        card = self.profile.card
        if not text.isdigit() or not card["pin_min_length"] <= len(text) <= card["pin_max_length"]:
            return None
        return text

    def _try_pin(self, digits: str) -> bytes:
        """Compare a PIN with the counter decremented first and saved, so pulling the card mid-check costs a try."""
        image = self.image
        if image.pin_tries_left == 0:
            raise SwError("auth_blocked")
        image.pin_tries_left -= 1
        try:
            image.save()
        except OSError:
            image.pin_tries_left += 1
            raise SwError("memory_failure") from None
        if not image.pin_matches(digits):
            self.pin_ok = False
            raise SwError("pin_wrong", image.pin_tries_left)  # ISO 7816-4: the try that blocks says 63C0
        decremented = image.pin_tries_left
        image.pin_tries_left = image.pin_tries_max
        self.pin_ok = True

        def undo() -> None:
            image.pin_tries_left = decremented
            self.pin_ok = False

        return self._commit(undo)

    def _verify(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if cmd.p1 or cmd.p2:
            raise SwError("wrong_p1p2")
        if not self._in_app():
            raise SwError("data_not_found")
        if not data:  # ISO 7816-4: VERIFY without data asks for the tries left
            tries = self.image.pin_tries_left
            if not tries:
                raise SwError("auth_blocked")
            if self.pin_ok:
                return OK
            raise SwError("pin_wrong", tries)
        digits = self._pin_digits(data)
        if digits is None:
            raise SwError("wrong_data")
        return self._try_pin(digits)

    def _change_pin(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if (cmd.p1, cmd.p2) != (0x01, 0x00):
            raise SwError("wrong_p1p2")
        if not self._in_app():
            raise SwError("data_not_found")
        cut = data.find(b"\xff")
        old = self._pin_digits(data[:cut]) if cut > 0 else None
        new = self._pin_digits(data[cut + 1:]) if cut > 0 else None
        if old is None or new is None:
            raise SwError("wrong_data")
        self._try_pin(old)
        salt, digest, tries = self.image.pin_salt, self.image.pin_digest, self.image.pin_tries_left
        self.image.set_pin(new)

        def undo() -> None:
            self.image.pin_salt, self.image.pin_digest, self.image.pin_tries_left = salt, digest, tries

        return self._commit(undo)

    def _unblock(self, cmd: Command, data: bytes, secured: bool) -> bytes:
        if not secured:
            raise SwError("sm_missing")
        if cmd.p1 or cmd.p2 != self.profile.key("pin_unblock").p2:
            raise SwError("wrong_p1p2")
        key = self._key("pin_unblock")
        if key is None:
            raise SwError("data_not_found")
        size = block_size(self.image.alg)
        if not data or len(data) % size:
            raise SwError("wrong_length")
        try:
            block = unpad_80(decrypt_ecb(self.image.alg, key, data))
        except ValueError:
            raise SwError("wrong_data") from None
        digits = self._pin_digits(block[1:]) if block and block[0] == len(block) - 1 else None
        if digits is None:
            raise SwError("wrong_data")
        salt, digest, tries = self.image.pin_salt, self.image.pin_digest, self.image.pin_tries_left
        self.image.set_pin(digits)
        self.pin_ok = False

        def undo() -> None:
            self.image.pin_salt, self.image.pin_digest, self.image.pin_tries_left = salt, digest, tries

        return self._commit(undo)


def _answer(cmd: Command, data: bytes) -> bytes:
    """Data for a case-2 command: all of it when Le is 00 or absent or right; 6Cxx (the right Le) otherwise."""
    if cmd.le is None or cmd.le == 256 or cmd.le == len(data):
        return data + OK
    raise SwError("wrong_le", len(data) & 0xFF)


# INS -> (handler, proprietary class): the command catalogue of apdu_specs/commands.toml, SSSE side.
COMMANDS: dict[int, tuple[Handler, bool]] = {
    0xA4: (SsseApplet._select, False),
    0xB2: (SsseApplet._read_record, False),
    0xDC: (SsseApplet._update_record, False),
    0xE2: (SsseApplet._append_record, False),
    0xB0: (SsseApplet._read_binary, False),
    0xD6: (SsseApplet._update_binary, False),
    0x84: (SsseApplet._get_challenge, False),
    0x88: (SsseApplet._internal_authenticate, False),
    0x82: (SsseApplet._external_authenticate, False),
    0x20: (SsseApplet._verify, False),
    0x5E: (SsseApplet._change_pin, True),
    0x24: (SsseApplet._unblock, True),
}
