"""A simulated PSAM: holds an issuer's master key sets and does diversification, encryption, MACs and answer
checks for terminals, which only ever see factors, challenges and cryptograms (commands: apdu_specs/psam.toml).

A card object like any other (`atr`, `reset()`, `process(apdu)`), so it is served in a vpcd slot or used in process
through a loopback transport. Any APDU, however malformed, gets a status word.
"""
from __future__ import annotations

import hmac
from collections import OrderedDict
from pathlib import Path

import apdu_specs
from cardlib import issuer_keys
from cardlib.crypto import Alg, Ecb, alg_from_id, block_size, mac
from cardlib.issuer_keys import IssuerKeySet

from .status import OK, SwError, parse, sw


DERIVED_KEPT = 64  # intermediate keys (master, city level, card level) whose ciphers are kept for the next session


class Psam:
    """The PSAM's state: its key sets, whether its application is selected and the current (diversified) key.

    A terminal derives the same card's keys through the same levels session after session (master -> city ->
    card, then a random process factor), so the cipher of each intermediate key is kept (up to DERIVED_KEPT,
    least recently used dropped): only the last level, fresh each session, sets up a new cipher."""

    def __init__(self, key_sets: dict[Alg, IssuerKeySet]) -> None:
        spec = apdu_specs.psam()
        self._sets = dict(key_sets)
        self._refs = {int(ref, 16): usage for usage, ref in spec["key_refs"].items()}
        self._aid = bytes.fromhex(spec["psam"]["aid"])
        self._max_factors = int(spec["psam"]["max_factors"])
        self.atr = bytes.fromhex(spec["psam"]["atr"])
        self._ciphers: OrderedDict[tuple[Alg, str, bytes], tuple[bytes, Ecb]] = OrderedDict()
        self.reset()

    @classmethod
    def from_dir(cls, directory: Path) -> "Psam":
        return cls(issuer_keys.load(directory))

    def __repr__(self) -> str:
        return f"Psam(algs={sorted(self._sets)})"

    def reset(self) -> bytes:
        self._selected = False
        self._key: tuple[Alg, bytes] | None = None
        self._cipher: Ecb | None = None
        self._usage: str | None = None
        return self.atr

    def process(self, apdu: bytes) -> bytes:
        try:
            return self._process(bytes(apdu))
        except SwError as exc:
            return exc.sw
        except Exception:  # a card answers every APDU; nothing it holds goes into the answer
            return sw("unknown_error")

    def _process(self, apdu: bytes) -> bytes:
        cla, ins, p1, p2, data, le, _extended = parse(apdu)
        if (cla, ins) == (0x00, 0xA4):
            if p1 == 0x04 and data == self._aid:
                self._selected, self._key, self._cipher, self._usage = True, None, None, None
                return b"\x6f" + bytes([len(self._aid) + 2, 0x84, len(self._aid)]) + self._aid + OK
            raise SwError("file_not_found")
        if cla != 0x80:
            raise SwError("cla_not_supported")
        if ins not in (0x1A, 0x1C, 0xFA):
            raise SwError("ins_not_supported")
        if not self._selected:
            raise SwError("conditions_not_satisfied")
        if ins == 0x1A:
            return self._set_key(p1, p2, data)
        if self._key is None:
            raise SwError("conditions_not_satisfied")
        alg, key = self._key
        if ins == 0x1C:
            return self._wrap_key(p1, p2, data)
        size = block_size(alg)
        if p1 == 0x00:
            if not data or len(data) % size:
                raise SwError("wrong_length")
            return self._current().encrypt(data) + OK
        if p1 == 0x05:
            if len(data) < size:
                raise SwError("wrong_length")
            length = 4 if le in (None, 256) else le
            if length > size:
                raise SwError("wrong_length")
            return mac(alg, key, data[size:], iv=data[:size], length=length) + OK
        if p1 == 0x08:
            challenge, answer = data[:8], data[8:]
            if len(challenge) != 8 or not answer:
                raise SwError("wrong_length")
            expected = self._current().encrypt(challenge.ljust(size, b"\x00"))[: len(answer)]
            if not hmac.compare_digest(expected, answer):
                raise SwError("sm_incorrect")
            return OK
        raise SwError("wrong_p1p2")

    def _derive(self, alg_id: int, ref: int, factors: bytes) -> tuple[Alg, str, bytes]:
        """(alg, usage, diversified key); SwError saying why not."""
        try:
            alg = alg_from_id(alg_id)
        except ValueError:
            raise SwError("wrong_p1p2") from None
        usage = self._refs.get(ref)
        key_set = self._sets.get(alg)
        if usage is None or key_set is None or usage not in key_set.masters:
            raise SwError("data_not_found")
        if len(factors) % 8 or len(factors) // 8 > self._max_factors:
            raise SwError("wrong_length")
        key = key_set.masters[usage]
        for i in range(0, len(factors), 8):
            key = self._kept(alg, usage, factors[:i], key).diversify(factors[i : i + 8])
        return alg, usage, key

    def _kept(self, alg: Alg, usage: str, prefix: bytes, key: bytes) -> Ecb:
        """The cipher of the key reached from `usage`'s master by the factors `prefix` (`key`), kept for reuse."""
        name = (alg, usage, prefix)
        kept = self._ciphers.get(name)
        if kept is None or kept[0] != key:  # a key set changed under it is a new key
            kept = self._ciphers[name] = (key, Ecb(alg, key))
            if len(self._ciphers) > DERIVED_KEPT:
                self._ciphers.popitem(last=False)
        else:
            self._ciphers.move_to_end(name)
        return kept[1]

    def _current(self) -> Ecb:
        """The current key's cipher, set up at its first use."""
        assert self._key is not None
        if self._cipher is None:
            self._cipher = Ecb(*self._key)
        return self._cipher

    def _set_key(self, alg_id: int, ref: int, factors: bytes) -> bytes:
        self._key, self._cipher, self._usage = None, None, None
        alg, self._usage, key = self._derive(alg_id, ref, factors)
        self._key = (alg, key)
        return OK

    def _wrap_key(self, alg_id: int, ref: int, factors: bytes) -> bytes:
        assert self._key is not None
        if self._usage != "perso":
            raise SwError("conditions_not_satisfied")
        alg, _usage, key = self._derive(alg_id, ref, factors)
        if alg != self._key[0]:
            raise SwError("conditions_not_satisfied")
        return self._current().encrypt(key) + OK
