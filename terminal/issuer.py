"""The issuer's side of an online transaction: check the card's ARQC and answer with an ARPC.

This is the issuer host (its HSM holds the AC master key), not a terminal: it loads the issuer key set and derives
the card's key from the PAN and the session key from the ATC with the same definitions the card uses
(cardlib.emv_crypto). Terminals pass the cryptogram through and never hold these keys.
"""
from __future__ import annotations

from dataclasses import dataclass

from cardlib import emv_crypto
from cardlib.crypto import Alg
from cardlib.issuer_keys import IssuerKeySet
from cardlib.pboc import Cryptogram

APPROVED = b"00"
DECLINED = b"05"
CVN_ALG: dict[int, Alg] = {0x01: "3des", 0x04: "sm4"}


class ArqcError(ValueError):
    """The ARQC did not verify: the card is not this issuer's, or the transaction data was altered."""


@dataclass(frozen=True)
class Authorisation:
    approved: bool
    arc: bytes
    arpc: bytes
    alg: Alg

    def as_dict(self) -> dict[str, object]:
        return {"approved": self.approved, "arc": self.arc.decode("ascii"), "arpc": self.arpc.hex().upper(),
                "alg": self.alg}


def card_alg(c: Cryptogram) -> Alg:
    """The algorithm from the cryptogram version number in the IAD (byte 2)."""
    if len(c.iad) < 3 or c.iad[2] not in CVN_ALG:
        raise ArqcError("unknown cryptogram version in the issuer application data")
    return CVN_ALG[c.iad[2]]


def verify_arqc(key_sets: dict[Alg, IssuerKeySet], c: Cryptogram) -> Alg:
    alg = card_alg(c)
    key_set = key_sets.get(alg)
    if key_set is None:
        raise ArqcError(f"no {alg} key set at this issuer")
    if c.kind != "ARQC":
        raise ArqcError(f"the card returned a {c.kind}, not an ARQC")
    session = emv_crypto.session_key(alg, emv_crypto.card_master_key(alg, key_set.master("ac"), c.pan, c.psn), c.atc)
    if not emv_crypto.verify_arqc(alg, session, emv_crypto.arqc_input(c.cdol_data, c.aip, c.atc, c.iad), c.ac):
        raise ArqcError("ARQC does not verify under this issuer's keys")
    return alg


def authorise(key_sets: dict[Alg, IssuerKeySet], c: Cryptogram, *, approve: bool = True) -> Authorisation:
    """Check the ARQC (ArqcError if it fails) and return the ARPC for the chosen response code."""
    alg = verify_arqc(key_sets, c)
    arc = APPROVED if approve else DECLINED
    session = emv_crypto.session_key(alg, emv_crypto.card_master_key(alg, key_sets[alg].master("ac"), c.pan, c.psn),
                                     c.atc)
    return Authorisation(approved=approve, arc=arc, arpc=emv_crypto.arpc(alg, session, c.ac, arc), alg=alg)
