"""Bodies on the wire: encoding, and decoding with validation driven by type hints.

JSON (msgspec) is the default; MessagePack is a per-bus choice. The content
type travels in the ``content-type`` header, so a receiver decodes whatever it
is sent. Decoders are built once per (type, format) and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from interlink._errors import ValidationError

JSON = "application/json"
MSGPACK = "application/msgpack"
FORMATS = {"json": JSON, "msgpack": MSGPACK}


def _enc_hook(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return dump(mode="json")
    raise NotImplementedError(f"cannot encode objects of type {type(value).__name__}")


_json_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_msgpack_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_validate") and hasattr(tp, "model_fields")


class Codec:
    """Encodes with one format; decodes any known format into a declared type."""

    def __init__(self, fmt: str = "json") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(FORMATS)}")
        self.content_type = FORMATS[fmt]
        self._encode = _json_encoder.encode if fmt == "json" else _msgpack_encoder.encode

    def encode(self, value: Any) -> bytes:
        try:
            return self._encode(value)
        except (TypeError, NotImplementedError, OverflowError, msgspec.EncodeError) as exc:
            raise ValidationError(f"cannot encode body of type {type(value).__name__}: {exc}") from None

    @staticmethod
    def decode(data: bytes, tp: Any = Any, content_type: str | None = None) -> Any:
        return decoder_for(tp, content_type or JSON)(data)


@lru_cache(maxsize=1024)
def decoder_for(tp: Any, content_type: str) -> Callable[[bytes], Any]:
    """A function bytes -> value of ``tp`` that raises ValidationError on any failure."""
    if content_type not in (JSON, MSGPACK):
        def refuse(data: bytes) -> Any:
            raise ValidationError(f"unsupported content type {content_type!r}")
        return refuse
    module = msgspec.json if content_type == JSON else msgspec.msgpack
    if _is_pydantic(tp):
        raw = module.Decoder()

        def decode_model(data: bytes) -> Any:
            try:
                return tp.model_validate(raw.decode(data))
            except (msgspec.DecodeError, RecursionError) as exc:
                raise ValidationError(f"malformed body: {exc}") from None
            except ValueError as exc:  # pydantic.ValidationError is a ValueError
                raise ValidationError(f"invalid body: {exc}") from None
        return decode_model

    typed = module.Decoder(tp)

    def decode(data: bytes) -> Any:
        try:
            return typed.decode(data)
        except msgspec.ValidationError as exc:
            raise ValidationError(f"invalid body: {exc}") from None
        except (msgspec.DecodeError, RecursionError) as exc:  # nested deeper than the decoder goes
            raise ValidationError(f"malformed body: {exc}") from None
    return decode
