"""A simulated PSAM: holds an issuer's master key sets and does diversification, encryption, MACs and answer
checks for terminals, which only ever see factors, challenges and cryptograms (commands: apdu_specs/psam.toml).

A card object like any other (`atr`, `reset()`, `process(apdu)`), so it is served in a vpcd slot or used in process
through a loopback transport. Any APDU, however malformed, gets a status word.
"""
from __future__ import annotations

import hmac
from pathlib import Path

import apdu_specs
from cardlib import issuer_keys
from cardlib.crypto import Alg, alg_from_id, block_size, diversify, encrypt_ecb, mac
from cardlib.issuer_keys import IssuerKeySet

OK = b"\x90\x00"


def _sw(name: str) -> bytes:
    return apdu_specs.status_word_by_name(name).to_bytes(2, "big")


class Psam:
    """The PSAM's state: its key sets, whether its application is selected and the current (diversified) key."""

    def __init__(self, key_sets: dict[Alg, IssuerKeySet]) -> None:
        spec = apdu_specs.psam()
        self._sets = dict(key_sets)
        self._refs = {int(ref, 16): usage for usage, ref in spec["key_refs"].items()}
        self._aid = bytes.fromhex(spec["psam"]["aid"])
        self._max_factors = int(spec["psam"]["max_factors"])
        self.atr = bytes.fromhex(spec["psam"]["atr"])
        self.reset()

    @classmethod
    def from_dir(cls, directory: Path) -> "Psam":
        return cls(issuer_keys.load(directory))

    def __repr__(self) -> str:
        return f"Psam(algs={sorted(self._sets)})"

    def reset(self) -> bytes:
        self._selected = False
        self._key: tuple[Alg, bytes] | None = None
        self._usage: str | None = None
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        try:
            return self._process(bytes(apdu))
        except Exception:  # a card answers every APDU; nothing it holds goes into the answer
            return _sw("unknown_error")

    def _process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return _sw("wrong_length")
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        data = b""
        if len(body) > 1:
            lc = body[0]
            data = body[1 : 1 + lc]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):
                return _sw("wrong_length")
        le = body[-1] if len(body) in (1, 2 + len(data)) and body else None
        if (cla, ins) == (0x00, 0xA4):
            if p1 == 0x04 and data == self._aid:
                self._selected, self._key, self._usage = True, None, None
                return b"\x6f" + bytes([len(self._aid) + 2, 0x84, len(self._aid)]) + self._aid + OK
            return _sw("file_not_found")
        if cla != 0x80:
            return _sw("cla_not_supported")
        if ins not in (0x1A, 0x1C, 0xFA):
            return _sw("ins_not_supported")
        if not self._selected:
            return _sw("conditions_not_satisfied")
        if ins == 0x1A:
            return self._set_key(p1, p2, data)
        if self._key is None:
            return _sw("conditions_not_satisfied")
        alg, key = self._key
        if ins == 0x1C:
            return self._wrap_key(p1, p2, data)
        size = block_size(alg)
        if p1 == 0x00:
            if not data or len(data) % size:
                return _sw("wrong_length")
            return encrypt_ecb(alg, key, data) + OK
        if p1 == 0x05:
            if len(data) < size:
                return _sw("wrong_length")
            length = le or 4
            if length > size:
                return _sw("wrong_length")
            return mac(alg, key, data[size:], iv=data[:size], length=length) + OK
        if p1 == 0x08:
            challenge, answer = data[:8], data[8:]
            if len(challenge) != 8 or not answer:
                return _sw("wrong_length")
            expected = encrypt_ecb(alg, key, challenge.ljust(size, b"\x00"))[: len(answer)]
            return OK if hmac.compare_digest(expected, answer) else _sw("sm_incorrect")
        return _sw("wrong_p1p2")

    def _derive(self, alg_id: int, ref: int, factors: bytes) -> tuple[Alg, str, bytes] | bytes:
        """(alg, usage, diversified key), or the status word saying why not."""
        try:
            alg = alg_from_id(alg_id)
        except ValueError:
            return _sw("wrong_p1p2")
        usage = self._refs.get(ref)
        key_set = self._sets.get(alg)
        if usage is None or key_set is None or usage not in key_set.masters:
            return _sw("data_not_found")
        if len(factors) % 8 or len(factors) // 8 > self._max_factors:
            return _sw("wrong_length")
        key = key_set.masters[usage]
        for i in range(0, len(factors), 8):
            key = diversify(alg, key, factors[i : i + 8])
        return alg, usage, key

    def _set_key(self, alg_id: int, ref: int, factors: bytes) -> bytes:
        self._key, self._usage = None, None
        derived = self._derive(alg_id, ref, factors)
        if isinstance(derived, bytes):
            return derived
        alg, self._usage, key = derived
        self._key = (alg, key)
        return OK

    def _wrap_key(self, alg_id: int, ref: int, factors: bytes) -> bytes:
        assert self._key is not None
        if self._usage != "perso":
            return _sw("conditions_not_satisfied")
        derived = self._derive(alg_id, ref, factors)
        if isinstance(derived, bytes):
            return derived
        alg, _usage, key = derived
        if alg != self._key[0]:
            return _sw("conditions_not_satisfied")
        return encrypt_ecb(alg, self._key[1], key) + OK
