import dataclasses
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlink import ValidationError
from interlink._codec import JSON, MSGPACK, Codec


class PointStruct(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class PointData:
    x: int
    y: int


class PointDict(TypedDict):
    x: int
    y: int


class PointModel(pydantic.BaseModel):
    x: int
    y: int


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() |
    st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@given(value=json_values)
def test_round_trip_of_raw_values(fmt: str, value: Any) -> None:
    codec = Codec(fmt)
    assert codec.decode(codec.encode(value), Any, codec.content_type) == value


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
@pytest.mark.parametrize("tp", [PointStruct, PointData, PointModel])
def test_typed_round_trip(fmt: str, tp: Any) -> None:
    codec = Codec(fmt)
    value = tp(x=1, y=2)
    assert codec.decode(codec.encode(value), tp, codec.content_type) == value


def test_typed_dict_and_builtins() -> None:
    codec = Codec()
    assert codec.decode(b'{"x":1,"y":2}', PointDict, JSON) == {"x": 1, "y": 2}
    assert codec.decode(b"[1,2]", list[int], JSON) == [1, 2]
    with pytest.raises(ValidationError):
        codec.decode(b'{"x":1}', PointDict, JSON)


@pytest.mark.parametrize("tp", [PointStruct, PointData, PointModel, PointDict])
def test_wrong_field_type_is_a_validation_error(tp: Any) -> None:
    with pytest.raises(ValidationError, match="invalid body"):
        Codec().decode(b'{"x":"one","y":2}', tp, JSON)


@pytest.mark.parametrize("tp", [Any, PointStruct, PointModel])
def test_malformed_bytes_are_a_validation_error(tp: Any) -> None:
    with pytest.raises(ValidationError, match="malformed"):
        Codec().decode(b"{nope", tp, JSON)
    with pytest.raises(ValidationError):
        Codec().decode(b"\xc1", tp, MSGPACK)


def test_unknown_content_type_and_unencodable_values() -> None:
    with pytest.raises(ValidationError, match="content type"):
        Codec().decode(b"<xml/>", Any, "application/xml")
    with pytest.raises(ValidationError, match="cannot encode"):
        Codec().encode(object())
    with pytest.raises(ValueError):
        Codec("yaml")
