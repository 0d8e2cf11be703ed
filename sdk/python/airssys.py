"""airssys: write AirsSys components in Python.

One self-contained module (standard library only) for guests of the WIT contract
``airssys:component@0.2.0``, world ``component``, built with componentize-py::

    componentize-py -d wit -w component componentize app -o app.wasm

A component is a class named ``Actor`` in ``app.py``. Subclass :class:`Actor` from this module
and override :meth:`Actor.handle_message` (the other four methods have defaults)::

    import airssys
    from airssys import Actor as Base

    class Actor(Base):
        def init(self, config):
            self.greeting = airssys.config.get("greeting", "hello")

        def handle_message(self, message):
            count = airssys.storage.increment("greetings")
            return airssys.raw(f"{self.greeting} #{count}")

What this module gives:

- **Lifecycle.** componentize-py makes a separate ``Actor()`` for each of the five exports;
  :class:`Actor` makes them one object, so what ``init`` puts on ``self`` is there in
  ``handle_message``. Returning from a method is ``ok``; raising
  ``componentize_py_types.Err("text")`` from ``init`` or ``handle_message`` is ``err``. An
  :class:`Error` of this module (a refusal by the host, a codec error) that escapes ``init``
  or ``handle_message`` becomes ``err`` with its text, as ``?`` does in Rust. Any other
  exception traps the instance (its supervisor restarts it from scratch): so does
  :func:`crash`.
- **Codecs.** Multicodec codes (:data:`RAW`, :data:`JSON`, :data:`CBOR`,
  :data:`MESSAGEPACK`, :data:`PROTOBUF`), payload builders (:func:`raw`, :func:`json`,
  :func:`cbor`, :func:`msgpack`, :func:`encode`) and :func:`decode`, with pure-Python CBOR
  (RFC 8949) and MessagePack.
- **Host interfaces**, raising :class:`HostError` on a refusal: :data:`messaging`
  (and the shortcuts :func:`send`, :func:`request`, :func:`call`, :func:`publish`,
  :func:`subscribe`), :data:`storage`, :data:`log`, :data:`config`, :data:`process` and
  :data:`links`.

Correlation ids, monitor ids and other ``u64`` values are plain Python ints. Timeouts are
integers of milliseconds.
"""

import json as _json
import struct as _struct

try:  # Inside a component (componentize-py): the generated bindings.
    from componentize_py_types import Err, Ok
    from wit_world.imports import types
    from wit_world.imports import config as _wit_config
    from wit_world.imports import links as _wit_links
    from wit_world.imports import logging as _wit_logging
    from wit_world.imports import messaging as _wit_messaging
    from wit_world.imports import process as _wit_process
    from wit_world.imports import storage as _wit_storage

    Payload = types.Payload
    Message = types.Message
    IN_COMPONENT = True
except ImportError:  # Plain CPython (tests of the codecs): stand-ins, no host.
    from dataclasses import dataclass as _dataclass

    @_dataclass
    class Payload:  # type: ignore[no-redef]
        """Self-describing bytes (stand-in for ``types.Payload`` outside a component)."""

        codec: int
        bytes: bytes

    @_dataclass(frozen=True)
    class Err(Exception):  # type: ignore[no-redef]
        """Stand-in for ``componentize_py_types.Err``."""

        value: object

    @_dataclass
    class Ok:  # type: ignore[no-redef]
        """Stand-in for ``componentize_py_types.Ok``."""

        value: object

    types = None
    Message = None
    IN_COMPONENT = False

__all__ = [
    "RAW", "JSON", "CBOR", "MESSAGEPACK", "PROTOBUF", "CODEC_NAMES",
    "Payload", "Message", "Ok", "Err",
    "Error", "CodecError", "HostError", "Crash",
    "Actor", "crash", "variant_name", "describe",
    "raw", "json", "cbor", "msgpack", "encode", "decode", "text", "reply_codec",
    "cbor_dumps", "cbor_loads", "msgpack_dumps", "msgpack_loads", "Ext",
    "messaging", "send", "request", "call", "publish", "subscribe", "self_address",
    "storage", "log", "config", "process", "links",
]

# --------------------------------------------------------------------------------------------
# Codecs: codes from the multicodec table.

RAW = 0x55
"""Raw bytes (0x55). :func:`raw` builds it; :func:`decode` gives the ``bytes``."""
JSON = 0x0200
"""JSON (0x0200)."""
CBOR = 0x51
"""CBOR, RFC 8949 (0x51)."""
MESSAGEPACK = 0x0201
"""MessagePack (0x0201)."""
PROTOBUF = 0x50
"""Protocol Buffers (0x50): a code to tag bytes with; this module does not encode it."""

CODEC_NAMES = {RAW: "raw", JSON: "json", CBOR: "cbor", MESSAGEPACK: "messagepack",
               PROTOBUF: "protobuf"}
"""Names of the codes above, for messages."""

_U32_MAX = 0xFFFF_FFFF
_U64 = 1 << 64
_MAX_DEPTH = 128  # nesting the encoders and decoders accept


class Error(Exception):
    """Base of this module's errors. One that escapes ``init`` or ``handle_message`` of an
    :class:`Actor` becomes an ``err`` result with its text (it does not trap)."""


class CodecError(Error, ValueError):
    """A value could not be encoded, or bytes could not be decoded (malformed, or a codec this
    module does not decode). ``codec`` is the multicodec code."""

    def __init__(self, message, codec=None):
        super().__init__(message)
        self.codec = codec


def _camel_to_kebab(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def variant_name(value):
    """The WIT case name of a generated variant value, in kebab-case:
    ``SendError_UnknownTarget("x")`` -> ``"unknown-target"``, ``RequestError_Timeout()`` ->
    ``"timeout"``, ``ExitReason_Crashed(..)`` -> ``"crashed"``."""
    name = type(value).__name__
    return _camel_to_kebab(name.split("_", 1)[1] if "_" in name else name)


def describe(value):
    """A variant value as text: its case name, then what it carries (nested variants too):
    ``"refused: unknown-target: nobody"``, ``"timeout"``, ``"codec-not-accepted: [0x200]"``."""
    text = variant_name(value)
    if not hasattr(value, "value"):
        return text
    inner = value.value
    if type(inner).__name__.count("_") and hasattr(type(inner), "__dataclass_fields__"):
        return f"{text}: {describe(inner)}"
    if isinstance(inner, list):
        return f"{text}: [{', '.join(hex(c) if isinstance(c, int) else str(c) for c in inner)}]"
    return f"{text}: {inner}"


class HostError(Error):
    """The host refused an operation, or (for ``call``) it produced no response. Its text is
    ``"<op> failed: <describe(value)>"``. ``op`` is what was tried (``"send"``, ``"storage.set"``,
    ...), ``kind`` the WIT case in kebab-case (``"unknown-target"``, ``"not-permitted"``,
    ``"timeout"``, ``"refused"``, ...), ``value`` the generated variant value itself (match on
    it for the details) and ``detail`` what the case carries, or ``None``."""

    def __init__(self, op, value):
        self.op = op
        self.value = value
        self.kind = variant_name(value)
        self.detail = getattr(value, "value", None)
        super().__init__(f"{op} failed: {describe(value)}")


class Crash(BaseException):
    """Raised by :func:`crash`. A ``BaseException``, so ``except Exception`` does not stop it:
    it leaves the handler and the instance traps."""


def crash(reason="crash requested"):
    """Trap this instance on purpose (its supervisor restarts it; in-memory state is lost,
    storage is kept). Logs ``reason`` at error level first; the host records the trap."""
    try:
        log.error(f"crashing: {reason}")
    except Exception:  # noqa: BLE001 - crashing anyway
        pass
    raise Crash(reason)


def _call_host(op, fn, *args):
    try:
        return fn(*args)
    except Err as e:
        raise HostError(op, e.value) from None


def _clamp_u32(ms):
    ms = int(ms)
    return 0 if ms < 0 else min(ms, _U32_MAX)


# --------------------------------------------------------------------------------------------
# Payloads.

def _as_bytes(data):
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise CodecError(f"raw takes bytes or str, not {type(data).__name__}", RAW)


def raw(data):
    """A raw payload (0x55) of ``bytes`` (or ``bytearray``/``memoryview``), or of a ``str`` as
    UTF-8."""
    return Payload(RAW, _as_bytes(data))


def json(value):
    """``value`` as a JSON payload (0x0200), compact, UTF-8. Takes what ``json.dumps`` takes."""
    try:
        data = _json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise CodecError(f"cannot encode as JSON: {e}", JSON) from None
    return Payload(JSON, data)


def cbor(value):
    """``value`` as a CBOR payload (0x51). See :func:`cbor_dumps` for the types it takes."""
    return Payload(CBOR, cbor_dumps(value))


def msgpack(value):
    """``value`` as a MessagePack payload (0x0201). See :func:`msgpack_dumps`."""
    return Payload(MESSAGEPACK, msgpack_dumps(value))


def encode(codec, value):
    """``value`` as a payload in ``codec`` (RAW, JSON, CBOR or MESSAGEPACK; RAW takes bytes or
    str)."""
    if codec == RAW:
        return raw(value)
    if codec == JSON:
        return json(value)
    if codec == CBOR:
        return cbor(value)
    if codec == MESSAGEPACK:
        return msgpack(value)
    raise CodecError(f"cannot encode codec {_codec_text(codec)}: use raw, json, cbor or "
                     "messagepack", codec)


def _codec_text(codec):
    name = CODEC_NAMES.get(codec)
    return f"0x{codec:x} ({name})" if name else f"0x{codec:x}"


def decode(payload):
    """The value a payload (or a message's payload) holds, by its codec: RAW gives ``bytes``,
    JSON, CBOR and MESSAGEPACK give Python values (dict, list, str, int, float, bool, None;
    CBOR and MessagePack also bytes). Raises :class:`CodecError` for malformed bytes and for
    a codec this module does not decode (such as PROTOBUF)."""
    if hasattr(payload, "payload"):
        payload = payload.payload
    codec, data = payload.codec, payload.bytes
    if codec == RAW:
        return bytes(data)
    if codec == JSON:
        try:
            return _json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise CodecError(f"cannot decode JSON: {e}", JSON) from None
    if codec == CBOR:
        return cbor_loads(data)
    if codec == MESSAGEPACK:
        return msgpack_loads(data)
    raise CodecError(f"cannot decode codec {_codec_text(codec)}: use raw, json, cbor or "
                     "messagepack", codec)


def text(payload):
    """The bytes of a payload (or of a message's payload) as UTF-8 text, whatever the codec.
    Raises :class:`CodecError` when they are not UTF-8."""
    if hasattr(payload, "payload"):
        payload = payload.payload
    try:
        return bytes(payload.bytes).decode("utf-8")
    except UnicodeDecodeError as e:
        raise CodecError(f"the payload is not UTF-8 text: {e}", payload.codec) from None


def reply_codec(message):
    """The codec to answer a message in: its own when this module encodes it (JSON, CBOR,
    MESSAGEPACK), else JSON (for raw bytes and unknown codecs)."""
    codec = message.payload.codec
    return codec if codec in (JSON, CBOR, MESSAGEPACK) else JSON


def _to_payload(value, codec):
    """A payload as given; otherwise ``value`` encoded in ``codec``, or when ``codec`` is None:
    raw for bytes and str, JSON for anything else."""
    if codec is None:
        if isinstance(value, Payload):
            return value
        if isinstance(value, (bytes, bytearray, memoryview, str)):
            return raw(value)
        return json(value)
    return encode(codec, value)


# --------------------------------------------------------------------------------------------
# CBOR (RFC 8949).

def cbor_dumps(value):
    """Encode ``value`` as CBOR bytes: None, bool, int (any size: beyond 64 bits as a bignum,
    tags 2 and 3), float (the shortest of half, single, double that keeps it exactly), bytes,
    str, list and tuple, dict (keys of any of these types). Others raise CodecError."""
    out = bytearray()
    _cbor_enc(value, out, 0)
    return bytes(out)


def _cbor_head(major, n, out):
    if n < 24:
        out.append((major << 5) | n)
    elif n < 0x100:
        out.append((major << 5) | 24)
        out.append(n)
    elif n < 0x10000:
        out.append((major << 5) | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x1_0000_0000:
        out.append((major << 5) | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append((major << 5) | 27)
        out += n.to_bytes(8, "big")


def _cbor_float(x, out):
    if x != x:  # NaN: the canonical half-precision quiet NaN
        out += b"\xf9\x7e\x00"
        return
    for fmt, head in (("e", 0xF9), ("f", 0xFA)):
        try:
            packed = _struct.pack(">" + fmt, x)
        except OverflowError:
            continue
        if _struct.unpack(">" + fmt, packed)[0] == x:
            out.append(head)
            out += packed
            return
    out.append(0xFB)
    out += _struct.pack(">d", x)


def _cbor_enc(v, out, depth):
    if depth > _MAX_DEPTH:
        raise CodecError("cannot encode as CBOR: nested too deeply", CBOR)
    if v is None:
        out.append(0xF6)
    elif v is True:
        out.append(0xF5)
    elif v is False:
        out.append(0xF4)
    elif isinstance(v, int):
        if 0 <= v < _U64:
            _cbor_head(0, v, out)
        elif -_U64 <= v < 0:
            _cbor_head(1, -1 - v, out)
        else:  # bignum
            n = v if v >= 0 else -1 - v
            out.append(0xC2 if v >= 0 else 0xC3)
            data = n.to_bytes((n.bit_length() + 7) // 8, "big")
            _cbor_head(2, len(data), out)
            out += data
    elif isinstance(v, float):
        _cbor_float(v, out)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        data = bytes(v)
        _cbor_head(2, len(data), out)
        out += data
    elif isinstance(v, str):
        data = v.encode("utf-8")
        _cbor_head(3, len(data), out)
        out += data
    elif isinstance(v, (list, tuple)):
        _cbor_head(4, len(v), out)
        for item in v:
            _cbor_enc(item, out, depth + 1)
    elif isinstance(v, dict):
        _cbor_head(5, len(v), out)
        for key, item in v.items():
            _cbor_enc(key, out, depth + 1)
            _cbor_enc(item, out, depth + 1)
    else:
        raise CodecError(f"cannot encode as CBOR: {type(v).__name__} is not supported", CBOR)


class _Reader:
    """Bytes read front to back, with every read checked against the end."""

    __slots__ = ("data", "pos", "codec", "name")

    def __init__(self, data, codec, name):
        self.data = bytes(data)
        self.pos = 0
        self.codec = codec
        self.name = name

    def fail(self, why):
        return CodecError(f"cannot decode {self.name}: {why} (at byte {self.pos})", self.codec)

    def take(self, n):
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"{n} bytes announced, {len(self.data) - self.pos} left")
        start = self.pos
        self.pos += n
        return self.data[start:self.pos]

    def byte(self):
        if self.pos >= len(self.data):
            raise self.fail("unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def left(self):
        return len(self.data) - self.pos


_BREAK = object()  # the CBOR "break" stop code, inside an indefinite-length item


def cbor_loads(data):
    """Decode one CBOR item that fills ``data``. Gives None, bool, int, float, bytes, str,
    list, dict (arrays used as map keys become tuples); bignums (tags 2, 3) become ints, other
    tags are dropped (their content kept); ``undefined`` and other simple values are None.
    Malformed or truncated input, trailing bytes or nesting deeper than 128 raise CodecError."""
    r = _Reader(data, CBOR, "CBOR")
    try:
        value = _cbor_dec(r, 0)
    except RecursionError:
        raise r.fail("nested too deeply for the stack") from None
    if value is _BREAK:
        raise r.fail("unexpected break")
    if r.left():
        raise r.fail(f"{r.left()} trailing bytes")
    return value


def _cbor_arg(r, ai):
    if ai < 24:
        return ai
    if ai == 24:
        return r.uint(1)
    if ai == 25:
        return r.uint(2)
    if ai == 26:
        return r.uint(4)
    if ai == 27:
        return r.uint(8)
    raise r.fail(f"reserved additional information {ai}")


def _cbor_key(r, key):
    if isinstance(key, list):
        key = _freeze(key)
    try:
        hash(key)
    except TypeError:
        raise r.fail(f"a map key of type {type(key).__name__}") from None
    return key


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def _cbor_chunks(r, major, depth):
    parts = []
    while True:
        b = r.byte()
        if b == 0xFF:
            break
        if b >> 5 != major or b & 31 == 31:
            raise r.fail("a chunk of an indefinite-length string of another type")
        parts.append(r.take(_cbor_arg(r, b & 31)))
    return b"".join(parts)


def _cbor_text(r, data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail("text that is not UTF-8") from None


def _cbor_dec(r, depth):
    if depth > _MAX_DEPTH:
        raise r.fail("nested too deeply")
    b = r.byte()
    major, ai = b >> 5, b & 31
    if major == 7:
        if ai == 20:
            return False
        if ai == 21:
            return True
        if ai in (22, 23):
            return None
        if ai == 25:
            return _struct.unpack(">e", r.take(2))[0]
        if ai == 26:
            return _struct.unpack(">f", r.take(4))[0]
        if ai == 27:
            return _struct.unpack(">d", r.take(8))[0]
        if ai == 31:
            return _BREAK
        if ai < 20:
            return None  # unassigned simple value
        if ai == 24:
            if r.byte() < 32:
                raise r.fail("a two-byte simple value below 32")
            return None
        raise r.fail(f"reserved additional information {ai}")
    if ai == 31:  # indefinite length
        if major == 2:
            return _cbor_chunks(r, 2, depth)
        if major == 3:
            return _cbor_text(r, _cbor_chunks(r, 3, depth))
        if major == 4:
            items = []
            while True:
                item = _cbor_dec(r, depth + 1)
                if item is _BREAK:
                    return items
                items.append(item)
        if major == 5:
            result = {}
            while True:
                key = _cbor_dec(r, depth + 1)
                if key is _BREAK:
                    return result
                item = _cbor_dec(r, depth + 1)
                if item is _BREAK:
                    raise r.fail("a map key without a value")
                result[_cbor_key(r, key)] = item
        raise r.fail(f"indefinite length for major type {major}")
    n = _cbor_arg(r, ai)
    if major == 0:
        return n
    if major == 1:
        return -1 - n
    if major == 2:
        return r.take(n)
    if major == 3:
        return _cbor_text(r, r.take(n))
    if major == 4:
        if n > r.left():
            raise r.fail(f"an array of {n} items in {r.left()} bytes")
        items = []
        for _ in range(n):
            item = _cbor_dec(r, depth + 1)
            if item is _BREAK:
                raise r.fail("unexpected break")
            items.append(item)
        return items
    if major == 5:
        if n > r.left() // 2:
            raise r.fail(f"a map of {n} entries in {r.left()} bytes")
        result = {}
        for _ in range(n):
            key = _cbor_dec(r, depth + 1)
            item = _cbor_dec(r, depth + 1)
            if key is _BREAK or item is _BREAK:
                raise r.fail("unexpected break")
            result[_cbor_key(r, key)] = item
        return result
    # major 6: a tag
    item = _cbor_dec(r, depth + 1)
    if item is _BREAK:
        raise r.fail("unexpected break")
    if n in (2, 3):
        if not isinstance(item, bytes):
            raise r.fail("a bignum that is not a byte string")
        big = int.from_bytes(item, "big")
        return big if n == 2 else -1 - big
    return item


# --------------------------------------------------------------------------------------------
# MessagePack.

class Ext:
    """A MessagePack extension value: ``code`` (-128..127) and ``data`` (bytes)."""

    __slots__ = ("code", "data")

    def __init__(self, code, data):
        self.code = code
        self.data = bytes(data)

    def __eq__(self, other):
        return isinstance(other, Ext) and (self.code, self.data) == (other.code, other.data)

    def __hash__(self):
        return hash((self.code, self.data))

    def __repr__(self):
        return f"Ext({self.code}, {self.data!r})"


def msgpack_dumps(value):
    """Encode ``value`` as MessagePack bytes: None, bool, int (-2**63 .. 2**64-1), float (as
    float 64), str, bytes, list and tuple, dict, :class:`Ext`. Others raise CodecError."""
    out = bytearray()
    _mp_enc(value, out, 0)
    return bytes(out)


def _mp_len(n, small_base, small_max, heads, out, what):
    if small_base is not None and n <= small_max:
        out.append(small_base | n)
        return
    for head, size in heads:
        if n < (1 << (8 * size)):
            out.append(head)
            out += n.to_bytes(size, "big")
            return
    raise CodecError(f"cannot encode as MessagePack: {what} of length {n} is too long",
                     MESSAGEPACK)


def _mp_enc(v, out, depth):
    if depth > _MAX_DEPTH:
        raise CodecError("cannot encode as MessagePack: nested too deeply", MESSAGEPACK)
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        if 0 <= v < 0x80:
            out.append(v)
        elif -32 <= v < 0:
            out.append(v & 0xFF)
        elif 0 <= v:
            for head, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
                if v < (1 << (8 * size)):
                    out.append(head)
                    out += v.to_bytes(size, "big")
                    return
            raise CodecError(f"cannot encode as MessagePack: {v} is above 2**64-1",
                             MESSAGEPACK)
        else:
            for head, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
                if v >= -(1 << (8 * size - 1)):
                    out.append(head)
                    out += v.to_bytes(size, "big", signed=True)
                    return
            raise CodecError(f"cannot encode as MessagePack: {v} is below -2**63", MESSAGEPACK)
    elif isinstance(v, float):
        out.append(0xCB)
        out += _struct.pack(">d", v)
    elif isinstance(v, str):
        data = v.encode("utf-8")
        _mp_len(len(data), 0xA0, 31, ((0xD9, 1), (0xDA, 2), (0xDB, 4)), out, "a string")
        out += data
    elif isinstance(v, (bytes, bytearray, memoryview)):
        data = bytes(v)
        _mp_len(len(data), None, 0, ((0xC4, 1), (0xC5, 2), (0xC6, 4)), out, "bytes")
        out += data
    elif isinstance(v, (list, tuple)):
        _mp_len(len(v), 0x90, 15, ((0xDC, 2), (0xDD, 4)), out, "an array")
        for item in v:
            _mp_enc(item, out, depth + 1)
    elif isinstance(v, dict):
        _mp_len(len(v), 0x80, 15, ((0xDE, 2), (0xDF, 4)), out, "a map")
        for key, item in v.items():
            _mp_enc(key, out, depth + 1)
            _mp_enc(item, out, depth + 1)
    elif isinstance(v, Ext):
        if not -128 <= v.code <= 127:
            raise CodecError("cannot encode as MessagePack: an ext code outside -128..127",
                             MESSAGEPACK)
        n = len(v.data)
        fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}.get(n)
        if fixed:
            out.append(fixed)
        else:
            _mp_len(n, None, 0, ((0xC7, 1), (0xC8, 2), (0xC9, 4)), out, "an ext")
        out += v.code.to_bytes(1, "big", signed=True)
        out += v.data
    else:
        raise CodecError(f"cannot encode as MessagePack: {type(v).__name__} is not supported",
                         MESSAGEPACK)


def msgpack_loads(data):
    """Decode one MessagePack value that fills ``data``: None, bool, int, float, str, bytes,
    list, dict (arrays used as map keys become tuples), :class:`Ext`. Malformed or truncated
    input, trailing bytes or nesting deeper than 128 raise CodecError."""
    r = _Reader(data, MESSAGEPACK, "MessagePack")
    try:
        value = _mp_dec(r, 0)
    except RecursionError:
        raise r.fail("nested too deeply for the stack") from None
    if r.left():
        raise r.fail(f"{r.left()} trailing bytes")
    return value


def _mp_str(r, n):
    try:
        return r.take(n).decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail("a string that is not UTF-8") from None


def _mp_array(r, n, depth):
    if n > r.left():
        raise r.fail(f"an array of {n} items in {r.left()} bytes")
    return [_mp_dec(r, depth + 1) for _ in range(n)]


def _mp_map(r, n, depth):
    if n > r.left() // 2:
        raise r.fail(f"a map of {n} entries in {r.left()} bytes")
    result = {}
    for _ in range(n):
        key = _mp_dec(r, depth + 1)
        result[_cbor_key(r, key)] = _mp_dec(r, depth + 1)
    return result


def _mp_ext(r, n):
    code = int.from_bytes(r.take(1), "big", signed=True)
    return Ext(code, r.take(n))


def _mp_dec(r, depth):
    if depth > _MAX_DEPTH:
        raise r.fail("nested too deeply")
    b = r.byte()
    if b < 0x80:
        return b
    if b >= 0xE0:
        return b - 0x100
    if b < 0x90:
        return _mp_map(r, b & 0x0F, depth)
    if b < 0xA0:
        return _mp_array(r, b & 0x0F, depth)
    if b < 0xC0:
        return _mp_str(r, b & 0x1F)
    if b == 0xC0:
        return None
    if b == 0xC2:
        return False
    if b == 0xC3:
        return True
    if b in (0xC4, 0xC5, 0xC6):
        return r.take(r.uint(1 << (b - 0xC4)))
    if b in (0xC7, 0xC8, 0xC9):
        return _mp_ext(r, r.uint(1 << (b - 0xC7)))
    if b == 0xCA:
        return _struct.unpack(">f", r.take(4))[0]
    if b == 0xCB:
        return _struct.unpack(">d", r.take(8))[0]
    if 0xCC <= b <= 0xCF:
        return r.uint(1 << (b - 0xCC))
    if 0xD0 <= b <= 0xD3:
        return int.from_bytes(r.take(1 << (b - 0xD0)), "big", signed=True)
    if 0xD4 <= b <= 0xD8:
        return _mp_ext(r, 1 << (b - 0xD4))
    if b in (0xD9, 0xDA, 0xDB):
        return _mp_str(r, r.uint(1 << (b - 0xD9)))
    if b in (0xDC, 0xDD):
        return _mp_array(r, r.uint(2 if b == 0xDC else 4), depth)
    if b in (0xDE, 0xDF):
        return _mp_map(r, r.uint(2 if b == 0xDE else 4), depth)
    raise r.fail(f"the unused byte 0x{b:02x}")


# --------------------------------------------------------------------------------------------
# The component: one Actor object for all five exports.

def _err_on_error(method):
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Error as e:
            raise Err(str(e)) from None

    wrapper.__name__ = method.__name__
    wrapper.__qualname__ = getattr(method, "__qualname__", method.__name__)
    wrapper.__doc__ = method.__doc__
    wrapper._airssys_wrapped = True
    return wrapper


def _once(user_init):
    def wrapper(self, *args, **kwargs):
        if not self.__dict__.get("_airssys_constructed"):
            self.__dict__["_airssys_constructed"] = True
            user_init(self, *args, **kwargs)

    wrapper.__name__ = "__init__"
    wrapper.__doc__ = user_init.__doc__
    wrapper._airssys_wrapped = True
    return wrapper


class Actor:
    """Base of a component's ``Actor`` class (name yours ``Actor``, in ``app.py``).

    componentize-py builds one ``Actor()`` per export; this class makes every construction
    give the same object (and runs your ``__init__`` once), so state on ``self`` is shared by
    the five methods for the life of the instance. A restarted instance starts over from the
    state the module had at build time; keep what must survive in :data:`storage`.

    ``init`` and ``handle_message``: return normally for ``ok``; raise
    ``Err("text")`` for ``err``. An :class:`Error` of this module raised inside them becomes
    ``Err(str(error))``; any other exception traps the instance.
    """

    _airssys_instance = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._airssys_instance = None
        for name in ("init", "handle_message"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_airssys_wrapped", False):
                setattr(cls, name, _err_on_error(method))
        user_init = cls.__dict__.get("__init__")
        if user_init is not None and not getattr(user_init, "_airssys_wrapped", False):
            cls.__init__ = _once(user_init)

    def __new__(cls, *args, **kwargs):
        instance = cls.__dict__.get("_airssys_instance")
        if instance is None:
            instance = super().__new__(cls)
            cls._airssys_instance = instance
        return instance

    def init(self, config):
        """Called once per instance, before any message, with the configuration as a list of
        ``(key, value)`` pairs. ``Err("text")`` fails the start (counted as a crash).
        Default: nothing."""

    def handle_message(self, message):
        """Handle one message (``types.Message``: ``sender``, ``payload``, ``correlation``,
        ``topic``, ``trace``). Return a ``Payload`` (the response to a request or call) or
        None. Override it: the default answers ``err``."""
        raise Err(f"{type(self).__name__} does not handle messages")

    def handle_callback(self, id, outcome):
        """The outcome of a :func:`request` this instance made: ``id`` is what ``request``
        returned; ``outcome`` is ``Ok(payload or None)`` or ``Err(RequestError_...)``
        (``variant_name(outcome.value)``: ``"timeout"``, ``"refused"``, ...). Default:
        ignore it."""

    def handle_notice(self, notice):
        """A linked or monitored component ended (``types.Notice_Down`` or
        ``types.Notice_Exit``). Default: ignore it."""

    def shutdown(self):
        """Called once before the instance is dropped on a graceful stop. Default: nothing."""


# --------------------------------------------------------------------------------------------
# Host interfaces. Every refusal raises HostError.

class messaging:
    """Messaging between components. A ``value`` is a ``Payload`` as given, or is encoded:
    in ``codec`` when one is given, else bytes and str as RAW and anything else as JSON."""

    @staticmethod
    def send(target, value, codec=None):
        """Fire-and-forget: returns once the message is queued for ``target``."""
        _call_host("send", _wit_messaging.send, target, _to_payload(value, codec))

    @staticmethod
    def request(target, value, codec=None, timeout_ms=5000):
        """Asynchronous request: returns its id (an int) at once; the outcome comes later to
        ``Actor.handle_callback`` with that id."""
        return _call_host("request", _wit_messaging.request, target,
                          _to_payload(value, codec), _clamp_u32(timeout_ms))

    @staticmethod
    def call(target, value, codec=None, timeout_ms=5000):
        """Blocking request: waits (handling nothing else) for ``target``'s response and
        returns it (a ``Payload``, or None). A timeout, crash, handler error or refusal raises
        HostError (``kind``: ``"timeout"``, ``"receiver-crashed"``, ``"handler-error"``,
        ``"refused"`` with the send error in ``detail``)."""
        return _call_host("call", _wit_messaging.call, target, _to_payload(value, codec),
                          _clamp_u32(timeout_ms))

    @staticmethod
    def cancel(id):
        """Drop a pending request: no callback comes for it. False if it was not pending."""
        return _wit_messaging.cancel(id)

    @staticmethod
    def publish(topic, value, codec=None):
        """Publish to every subscriber of a matching pattern; how many it was queued for."""
        return _call_host("publish", _wit_messaging.publish, topic, _to_payload(value, codec))

    @staticmethod
    def subscribe(pattern):
        """Receive what is published to topics matching ``pattern`` (``*`` one segment,
        ``#`` the rest). Belongs to this instance: subscribe again in ``init``."""
        _call_host("subscribe", _wit_messaging.subscribe, pattern)

    @staticmethod
    def unsubscribe(pattern):
        """Stop receiving ``pattern``. False if there was no such subscription."""
        return _wit_messaging.unsubscribe(pattern)

    @staticmethod
    def self_address():
        """This component's own address."""
        return _wit_messaging.self_address()


send = messaging.send
request = messaging.request
call = messaging.call
publish = messaging.publish
subscribe = messaging.subscribe
self_address = messaging.self_address


class storage:
    """Durable key-value storage of this component's own (needs a storage grant). Values are
    bytes; ``set`` also takes str (as UTF-8). A missing key is None, False or 0."""

    @staticmethod
    def get(key):
        """The value of ``key`` (bytes), or None."""
        return _call_host("storage.get", _wit_storage.get, key)

    @staticmethod
    def get_text(key, default=None):
        """The value of ``key`` as UTF-8 text, or ``default`` when missing."""
        value = storage.get(key)
        return default if value is None else text(Payload(RAW, value))

    @staticmethod
    def set(key, value):
        """Set ``key`` to ``value`` (bytes or str)."""
        _call_host("storage.set", _wit_storage.set, key, _as_bytes(value))

    @staticmethod
    def get_value(key, codec=JSON, default=None):
        """The value of ``key`` decoded from ``codec`` (JSON by default), or ``default``."""
        value = storage.get(key)
        return default if value is None else decode(Payload(codec, value))

    @staticmethod
    def set_value(key, value, codec=JSON):
        """Set ``key`` to ``value`` encoded in ``codec`` (JSON by default)."""
        storage.set(key, encode(codec, value).bytes)

    @staticmethod
    def delete(key):
        """Delete ``key``; whether it existed."""
        return _call_host("storage.delete", _wit_storage.delete, key)

    @staticmethod
    def exists(key):
        """Whether ``key`` exists."""
        return _call_host("storage.exists", _wit_storage.exists, key)

    @staticmethod
    def increment(key, delta=1):
        """Add ``delta`` to the counter at ``key`` (missing: 0), atomically; its new value."""
        return _call_host("storage.increment", _wit_storage.increment, key, int(delta))

    @staticmethod
    def compare_and_swap(key, expected, new):
        """If ``key`` holds ``expected`` (None: absent), set it to ``new`` (None: delete) and
        return True; otherwise change nothing and return False."""
        expected = None if expected is None else _as_bytes(expected)
        new = None if new is None else _as_bytes(new)
        return _call_host("storage.compare_and_swap", _wit_storage.compare_and_swap, key,
                          expected, new)

    @staticmethod
    def batch(writes):
        """Apply every write or none: ``writes`` is a list of ``(key, value)`` to set and
        ``(key, None)`` to delete."""
        ops = [_wit_storage.BatchWrite_Delete(k) if v is None
               else _wit_storage.BatchWrite_Set((k, _as_bytes(v))) for k, v in writes]
        _call_host("storage.batch", _wit_storage.batch, ops)

    @staticmethod
    def keys(prefix=""):
        """Every key starting with ``prefix``, in order (read page by page)."""
        found, cursor = [], None
        while True:
            page = _call_host("storage.list_keys", _wit_storage.list_keys, prefix, cursor, 1000)
            found.extend(page.keys)
            if page.cursor is None:
                return found
            cursor = page.cursor

    @staticmethod
    def usage():
        """``StorageUsage``: ``bytes``, ``keys``, ``quota_bytes``, ``quota_keys``."""
        return _call_host("storage.usage", _wit_storage.usage)


class _Log:
    """Logging into the host's logs, tagged with the component's address. Keyword arguments
    become structured fields (their values as text): ``log.info("paid", order=42)``."""

    def _log(self, level, message, fields):
        pairs = [(str(k), str(v)) for k, v in fields.items()]
        _wit_logging.log(getattr(_wit_logging.Level, level), str(message), pairs)

    def trace(self, message, **fields):
        """Log at trace level."""
        self._log("TRACE", message, fields)

    def debug(self, message, **fields):
        """Log at debug level."""
        self._log("DEBUG", message, fields)

    def info(self, message, **fields):
        """Log at info level."""
        self._log("INFO", message, fields)

    def warn(self, message, **fields):
        """Log at warn level."""
        self._log("WARN", message, fields)

    warning = warn

    def error(self, message, **fields):
        """Log at error level."""
        self._log("ERROR", message, fields)


log = _Log()
"""The logger: ``log.trace``, ``log.debug``, ``log.info``, ``log.warn``, ``log.error``."""


class config:
    """The component's configuration (from the app manifest, or ``airssys run --config``).
    ``init`` gets every pair; these read one key at any time."""

    @staticmethod
    def get(key, default=None):
        """The value of ``key`` (str), or ``default``."""
        value = _wit_config.get(key)
        return default if value is None else value

    @staticmethod
    def get_int(key, default=None):
        """The value of ``key`` as an int, or ``default`` when missing or not an int."""
        value = _wit_config.get(key)
        try:
            return default if value is None else int(value)
        except ValueError:
            return default


class process:
    """Running host commands the component was granted (through the host's airssys-osl)."""

    @staticmethod
    def run(command, args=(), timeout_ms=10_000):
        """Run ``command`` (as named in the grant) with ``args``, killed after
        ``timeout_ms``. Returns ``Output``: ``exit_code``, ``signal``, ``timed_out``,
        ``stdout``, ``stderr`` (bytes), ``truncated``. Refusal: HostError (``kind``
        ``"not-permitted"``, ``"rate-limited"`` or ``"failed"``)."""
        return _call_host("process.run", _wit_process.run, command, [str(a) for a in args],
                          _clamp_u32(timeout_ms))


class links:
    """Links and monitors between components (need a ``link`` grant). What ends a partner
    comes to ``Actor.handle_notice``; a restarted instance makes its links again."""

    @staticmethod
    def link(target):
        """Link this instance with ``target``."""
        _call_host("link", _wit_links.link, target)

    @staticmethod
    def unlink(target):
        """Remove a link. False if there was none."""
        return _wit_links.unlink(target)

    @staticmethod
    def monitor(target):
        """Monitor ``target``; the monitor id (an int), which its ``down`` notice carries."""
        return _call_host("monitor", _wit_links.monitor, target)

    @staticmethod
    def demonitor(id):
        """Remove a monitor. True if it was removed before it fired."""
        return _wit_links.demonitor(id)

    @staticmethod
    def trap_exits(trap=True):
        """Trap exits (True) or stop (False): a linked component's end comes as an ``exit``
        notice instead of ending this one."""
        _wit_links.trap_exits(bool(trap))
