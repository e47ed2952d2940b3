import pytest
from hypothesis import given, settings, strategies as st

from cardlib import tlv
from cardlib.tlv import Tlv, TlvError

FCI = bytes.fromhex("6F19840F7378312E73682EC9E7BBE1B1A3D5CFA5069F0C03860101")


def test_parse_fci_tree() -> None:
    [fci] = tlv.parse(FCI)
    assert fci.tag == 0x6F and fci.constructed
    assert fci.find(0x84).value == bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
    alg = tlv.find([fci], 0x9F0C)
    assert alg is not None and alg.value == bytes.fromhex("860101")
    assert tlv.encode_all([fci]) == FCI


@pytest.mark.parametrize(
    "length, encoded",
    [(0, "00"), (0x7F, "7F"), (0x80, "8180"), (0xFF, "81FF"), (0x100, "820100"), (0xFFFF, "82FFFF"),
     (0x10000, "83010000")],
)
def test_length_forms(length: int, encoded: str) -> None:
    assert tlv.encode_length(length) == bytes.fromhex(encoded)
    [obj] = tlv.parse(tlv.encode(0x04, b"\xAA" * length))
    assert len(obj.value) == length


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("9F", "multi-byte tag runs past"),
        ("5A", "length expected"),
        ("5A05 0102", "declares 5 bytes"),
        ("5A80", "indefinite"),
        ("5A84 00000001 00", "81, 82, 83 only"),
        ("5A82 01", "length bytes run past"),
        ("9F8080808001 00", "longer than 4"),
        ("6F03 5A0501", "declares 5 bytes"),
    ],
)
def test_parse_errors(raw: str, reason: str) -> None:
    with pytest.raises(TlvError, match=reason):
        tlv.parse(bytes.fromhex(raw.replace(" ", "")))


@pytest.mark.parametrize("tag", [0x1F, 0x9F8A, 0x5F, 0x100, 0x9F0C0C])
def test_invalid_tags_refused(tag: int) -> None:
    with pytest.raises(TlvError):
        tlv.encode(tag, b"")


def test_records() -> None:
    assert tlv.encode_record(0x09, "张三".encode("gbk")) == bytes.fromhex("0904D5C5C8FD")
    assert tlv.decode_record(bytes.fromhex("0904D5C5C8FD")) == (0x09, "张三".encode("gbk"))
    assert tlv.decode_records(bytes.fromhex("0A0131 0B0101".replace(" ", ""))) == [(0x0A, b"1"), (0x0B, b"\x01")]


@pytest.mark.parametrize(
    "raw, reason",
    [("", "shorter"), ("09", "shorter"), ("0905D5C5", "declares 5 bytes but carries 2"),
     ("0901D5C5", "carries 2"), ("FF00", "reserved"), ("0000", "reserved")],
)
def test_record_errors(raw: str, reason: str) -> None:
    with pytest.raises(TlvError, match=reason):
        tlv.decode_record(bytes.fromhex(raw))


def test_record_encode_errors() -> None:
    with pytest.raises(TlvError, match="1-byte length"):
        tlv.encode_record(0x09, bytes(256))
    with pytest.raises(TlvError, match="one byte"):
        tlv.encode_record(0x100, b"")


# Valid BER tags: one byte with low bits != 1F, or 1F-style first byte, continuation bytes, last < 0x80.
single_tags = st.integers(0, 0xFF).filter(lambda b: b & 0x1F != 0x1F)
multi_tags = st.builds(
    lambda first, mids, last: int.from_bytes(bytes([first | 0x1F, *[m | 0x80 for m in mids], last]), "big"),
    st.integers(0, 0xFF), st.lists(st.integers(0, 0xFF), max_size=2), st.integers(0, 0x7F),
)
primitive_tags = st.one_of(single_tags, multi_tags).filter(lambda t: not tlv.is_constructed(t))
constructed_tags = st.one_of(single_tags, multi_tags).filter(tlv.is_constructed)


def _objects() -> st.SearchStrategy[Tlv]:
    leaf = st.builds(lambda t, v: Tlv(t, v), primitive_tags, st.binary(max_size=300))

    def node(children: st.SearchStrategy[list[Tlv]]) -> st.SearchStrategy[Tlv]:
        return st.builds(lambda t, cs: Tlv(t, tlv.encode_all(cs), tuple(cs)), constructed_tags, children)

    return st.recursive(leaf, lambda inner: node(st.lists(inner, max_size=3)), max_leaves=8)


@settings(max_examples=150)
@given(st.lists(_objects(), max_size=4))
def test_ber_round_trip(objs: list[Tlv]) -> None:
    assert tlv.parse(tlv.encode_all(objs)) == objs


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_tlv_error(raw: bytes) -> None:
    for fn in (tlv.parse, tlv.decode_record, tlv.decode_records):
        try:
            fn(raw)
        except TlvError:
            pass


@settings(max_examples=100)
@given(st.integers(1, 0xFE), st.binary(max_size=255))
def test_record_round_trip(tag: int, value: bytes) -> None:
    assert tlv.decode_record(tlv.encode_record(tag, value)) == (tag, value)
