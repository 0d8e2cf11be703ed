// airssys.js: the JavaScript guest SDK for AirsSys components (WIT `airssys:component@0.2.0`,
// world `component`). One self-contained ES module with no dependencies; copy it next to your
// component's source and import it with a relative path:
//
//   import { defineActor, raw, asText, storage } from './airssys.js';
//
//   export const actor = defineActor({
//     handleMessage(message) {
//       const n = storage.increment('greetings');          // a BigInt
//       return raw(`hello #${n}, ${asText(message.payload)}`);
//     },
//   });
//
// Build with componentize-js 0.23 (sdk/javascript/build.mjs does it: world `component`,
// its default features). What is in here:
//
// - codec constants (multicodec codes, plain numbers: the WIT `codec` is a u32);
// - payload helpers: raw / text / json / cbor / msgpack / encode to make one, decode / asText to
//   read one;
// - a small CBOR (RFC 8949) and MessagePack encoder and decoder;
// - thin wrappers over the host imports, grouped as in the WIT: messaging, links, log, config,
//   process, storage;
// - defineActor(), which fills in the exports you leave out;
// - Failure / fail() (an error result), trap() (crash the instance), HostError (a refusal).
//
// How componentize-js maps the contract (checked against 0.23.0):
//
// - The export is the object `actor` with five camelCase methods: init(config),
//   handleMessage(message), handleCallback(id, outcome), handleNotice(notice), shutdown().
//   All five must exist (defineActor adds no-ops for the missing ones).
// - Results of init and handleMessage: returning is `ok`. Throwing a string, or an object
//   with an own `payload` property that is a string (a Failure, from fail()), is `err` with
//   that text. Throwing anything else, including a plain `Error` (a TypeError from a bug,
//   "too much recursion"...), TRAPS the instance: the host counts a crash and its supervisor
//   restarts it, as a panic would in Rust. Returning `{ tag: 'err', val: text }` is `err` too;
//   never return an object with a `tag` of 'ok' or 'err' unless you mean a result.
// - A handler may be async (return a promise): the export awaits it.
// - u64 and s64 values are BigInts: correlation ids (message.correlation, the id of
//   request() and of handleCallback), monitor ids, storage.increment's result, storage usage,
//   the limit in `payload-too-large`. u32 / s32 are Numbers (codec, timeouts, publish counts,
//   exit codes). `BigInt` literals: `1n`. asNumber() turns a BigInt into a Number safely.
// - option<T> is `T | undefined`; list<u8> is a Uint8Array; a variant is { tag, val } with the
//   WIT's kebab-case tag ('unknown-target', 'no-such-component'...); a WIT enum is its
//   kebab-case string.
// - A host import that returns result<T, E> returns T or throws; these wrappers turn the
//   throw into a HostError (kind = the variant tag, detail = its value).

import {
  send as wasmSend,
  request as wasmRequest,
  cancel as wasmCancel,
  call as wasmCall,
  publish as wasmPublish,
  subscribe as wasmSubscribe,
  unsubscribe as wasmUnsubscribe,
  selfAddress as wasmSelfAddress,
} from 'airssys:component/messaging@0.2.0';
import {
  link as wasmLink,
  unlink as wasmUnlink,
  monitor as wasmMonitor,
  demonitor as wasmDemonitor,
  trapExits as wasmTrapExits,
} from 'airssys:component/links@0.2.0';
import { log as wasmLog } from 'airssys:component/logging@0.2.0';
import { get as wasmConfigGet } from 'airssys:component/config@0.2.0';
import { run as wasmRun } from 'airssys:component/process@0.2.0';
import {
  get as wasmStorageGet,
  set as wasmStorageSet,
  delete as wasmStorageDelete,
  exists as wasmStorageExists,
  listKeys as wasmStorageListKeys,
  increment as wasmStorageIncrement,
  compareAndSwap as wasmStorageCompareAndSwap,
  batch as wasmStorageBatch,
  usage as wasmStorageUsage,
} from 'airssys:component/storage@0.2.0';

// ---------------------------------------------------------------------------------------------
// Codecs

/**
 * Multicodec codes (mirrors crates/airssys-wasm-component/src/codec.rs; PROTOBUF has no
 * encoder here). Plain Numbers. JSON's is JSON_CODEC (or Codec.JSON): a binding named `JSON`
 * would shadow the global JSON object in the importing module.
 */
export const RAW = 0x55;
export const JSON_CODEC = 0x0200;
export const CBOR = 0x51;
export const MESSAGEPACK = 0x0201;
export const PROTOBUF = 0x50;
/** The same codes by name: Codec.RAW, Codec.JSON, Codec.CBOR, Codec.MESSAGEPACK, Codec.PROTOBUF. */
export const Codec = Object.freeze({
  RAW,
  JSON: JSON_CODEC,
  CBOR,
  MESSAGEPACK,
  PROTOBUF,
});

const CODEC_NAMES = { [RAW]: 'raw', [JSON_CODEC]: 'json', [CBOR]: 'cbor', [MESSAGEPACK]: 'messagepack', [PROTOBUF]: 'protobuf' };

/** The name of a codec code ('json'), or its hex code ('0x1234') when unknown. */
export function codecName(code) {
  return CODEC_NAMES[code] ?? `0x${Number(code).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * An error that becomes the handler's `err` result when it escapes init or handleMessage
 * (componentize-js takes the own `payload` property as the error text). Throw one with
 * `throw fail('text')` (throwing the string itself does the same).
 */
export class Failure extends Error {
  constructor(message) {
    super(String(message));
    this.name = 'Failure';
    Object.defineProperty(this, 'payload', { value: String(message), enumerable: false });
  }
}

/** A Failure to throw: `throw fail('bad input')` makes the handler return err('bad input'). */
export function fail(message) {
  return new Failure(message);
}

/**
 * The host refused an operation. `kind` is the WIT variant's tag ('unknown-target',
 * 'not-permitted', 'timeout', 'refused'...), `detail` its value if any (for `refused`, the
 * inner send-error `{ tag, val }`), `operation` what was attempted. A Failure: uncaught in a
 * handler it becomes the handler's err result (it does not crash the instance).
 */
export class HostError extends Failure {
  constructor(operation, variant) {
    super(`${operation}: ${variantText(variant)}`);
    this.name = 'HostError';
    this.operation = operation;
    this.kind = variant?.tag;
    this.detail = variant?.val;
  }
  /** The tags from the outside in, joined by ':' ('refused:unknown-target', 'timeout'). */
  get code() {
    const inner = this.detail && typeof this.detail === 'object' && typeof this.detail.tag === 'string' ? `:${this.detail.tag}` : '';
    return `${this.kind}${inner}`;
  }
}

/** A payload could not be encoded or decoded. A Failure (uncaught: the handler's err). */
export class CodecError extends Failure {
  constructor(message) {
    super(message);
    this.name = 'CodecError';
  }
}

/**
 * Crash the instance: logs `reason` at error level, then throws a plain Error, which traps the
 * instance when it leaves init or handleMessage (the host reports a `wasm trap: wasm
 * \`unreachable\` instruction executed` and the supervisor restarts the component). Do not
 * catch it.
 *
 * Why it traps (componentize-js 0.23): the generated export wrapper takes a thrown value's own
 * `payload` property, or else the value itself, as the err text; an Error has no `payload`, is
 * not a string, and lowering it throws a TypeError outside any handler, on which the engine
 * calls abort(): a wasm `unreachable` trap.
 */
export function trap(reason = 'trap') {
  try {
    wasmLog('error', `trap: ${reason}`, []);
  } catch (_) {
    // logging is best effort here
  }
  throw new Error(`trap: ${reason}`);
}

/** A readable text for a WIT variant value: 'unknown-target(bob)', 'timeout', 'refused(mailbox-full)'. */
export function variantText(v) {
  if (v === undefined || v === null) return String(v);
  if (typeof v !== 'object' || typeof v.tag !== 'string') return typeof v === 'string' ? v : safeString(v);
  if (v.val === undefined) return v.tag;
  if (typeof v.val === 'object' && v.val !== null && typeof v.val.tag === 'string') return `${v.tag}(${variantText(v.val)})`;
  if (ArrayLike(v.val)) return `${v.tag}(${Array.from(v.val).join(', ')})`;
  return `${v.tag}(${safeString(v.val)})`;
}

function ArrayLike(x) {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

function safeString(x) {
  try {
    return typeof x === 'object' ? JSON.stringify(x, (_, y) => (typeof y === 'bigint' ? y.toString() : y)) : String(x);
  } catch (_) {
    return String(x);
  }
}

// Calls a host import; turns componentize-js's thrown error (with its own `payload`, the WIT
// error variant) into a HostError.
function host(operation, f) {
  try {
    return f();
  } catch (e) {
    if (e !== null && typeof e === 'object' && Object.prototype.hasOwnProperty.call(e, 'payload') && !(e instanceof Failure)) {
      throw new HostError(operation, e.payload);
    }
    throw e;
  }
}

/** A BigInt (u64 / s64) as a Number; throws a RangeError beyond Number.MAX_SAFE_INTEGER. */
export function asNumber(big) {
  if (typeof big === 'number') return big;
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${big} does not fit a Number exactly`);
  }
  return Number(big);
}

// ---------------------------------------------------------------------------------------------
// Payloads: { codec: number, bytes: Uint8Array }

const utf8Encoder = new TextEncoder();
let utf8Fatal;
try {
  utf8Fatal = new TextDecoder('utf-8', { fatal: true });
} catch (_) {
  utf8Fatal = undefined;
}
const utf8Lenient = new TextDecoder();

function decodeUtf8(bytes, what) {
  if (utf8Fatal) {
    try {
      return utf8Fatal.decode(bytes);
    } catch (_) {
      throw new CodecError(`${what}: not valid UTF-8`);
    }
  }
  const s = utf8Lenient.decode(bytes);
  if (s.includes('\uFFFD') && !sameBytes(utf8Encoder.encode(s), bytes)) throw new CodecError(`${what}: not valid UTF-8`);
  return s;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Bytes from a Uint8Array, another typed array / DataView, an ArrayBuffer, a number array or a string (UTF-8). */
export function toBytes(x) {
  if (x instanceof Uint8Array) return x;
  if (typeof x === 'string') return utf8Encoder.encode(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (Array.isArray(x)) return Uint8Array.from(x);
  throw new TypeError(`expected bytes or a string, got ${typeof x}`);
}

/** A raw (0x55) payload of bytes, or of a string's UTF-8. */
export function raw(bytesOrText) {
  return { codec: RAW, bytes: toBytes(bytesOrText) };
}

/** A raw (0x55) payload of a string's UTF-8 (the same as raw(string)). */
export function text(s) {
  return { codec: RAW, bytes: utf8Encoder.encode(String(s)) };
}

/**
 * A JSON (0x0200) payload. BigInts within ±(2^53 - 1) are written as numbers; larger ones
 * are refused (JSON.parse could not read them back exactly): use cbor() or msgpack().
 */
export function json(value) {
  let s;
  try {
    s = JSON.stringify(value, (_, v) => {
      if (typeof v !== 'bigint') return v;
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new CodecError(`cannot encode json: the BigInt ${v} is beyond 2^53; use cbor or msgpack`);
      }
      return Number(v);
    });
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`cannot encode json: ${e?.message ?? e}`);
  }
  if (s === undefined) throw new CodecError(`cannot encode json: ${typeof value} has no JSON form`);
  return { codec: JSON_CODEC, bytes: utf8Encoder.encode(s) };
}

/** A CBOR (0x51) payload. */
export function cbor(value) {
  return { codec: CBOR, bytes: cborEncode(value) };
}

/** A MessagePack (0x0201) payload. */
export function msgpack(value) {
  return { codec: MESSAGEPACK, bytes: msgpackEncode(value) };
}

/**
 * A payload of `value` in `codec` (JSON_CODEC, CBOR or MESSAGEPACK; RAW takes bytes or a
 * string). Any other codec throws a CodecError.
 */
export function encode(codec, value) {
  switch (codec) {
    case RAW:
      return raw(value);
    case JSON_CODEC:
      return json(value);
    case CBOR:
      return cbor(value);
    case MESSAGEPACK:
      return msgpack(value);
    default:
      throw new CodecError(`cannot encode codec ${codecName(codec)}: use json, cbor, messagepack or raw`);
  }
}

/**
 * The value in a payload, by its codec: JSON, CBOR, MessagePack give a value; raw gives its
 * bytes (a Uint8Array; asText() for text). Any other codec, or malformed bytes, throws a
 * CodecError (a Failure: uncaught, the handler answers err with its text).
 */
export function decode(payload) {
  const { codec, bytes } = payload;
  switch (codec) {
    case RAW:
      return bytes;
    case JSON_CODEC: {
      const s = decodeUtf8(bytes, 'cannot decode json');
      try {
        return JSON.parse(s);
      } catch (e) {
        throw new CodecError(`cannot decode json: ${e?.message ?? e}`);
      }
    }
    case CBOR:
      return cborDecode(bytes);
    case MESSAGEPACK:
      return msgpackDecode(bytes);
    default:
      throw new CodecError(
        `cannot decode codec ${codecName(codec)} (0x${Number(codec).toString(16)}): use json, cbor, messagepack or raw`,
      );
  }
}

/** A payload's bytes as UTF-8 text (any codec); throws a CodecError when they are not UTF-8. */
export function asText(payload) {
  return decodeUtf8(payload.bytes, 'payload is not text');
}

/** Whether a message waits for a response (a request or a call): its correlation id is set. */
export function isRequest(message) {
  return message.correlation !== undefined;
}

// ---------------------------------------------------------------------------------------------
// CBOR (RFC 8949)
//
// Encoding: null, undefined, booleans; integer Numbers (major types 0/1, shortest form);
// other Numbers as float32 when exact, else float64; BigInts as integers, or as bignums
// (tags 2/3) beyond 64 bits; strings; Uint8Array (and other views, ArrayBuffer) as byte
// strings; arrays; Map (any keys) and plain objects (string keys); CborTag for other tags.
// Decoding: integers are Numbers within ±(2^53 - 1), else BigInts (bignum tags too); byte
// strings are Uint8Arrays; maps whose keys are all text are plain objects, other maps Maps;
// tags other than 2/3 give a CborTag; definite and indefinite lengths; float16/32/64.
// Malformed, truncated or trailing input, and nesting deeper than 256, throw a CodecError.

const MAX_DEPTH = 256;
const TWO_64 = 1n << 64n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A CBOR tag other than 2/3 (bignums), as decoded or to encode: new CborTag(1, 1700000000). */
export class CborTag {
  constructor(tag, value) {
    this.tag = tag;
    this.value = value;
  }
}

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.len = 0;
    this.view = new DataView(this.buf.buffer);
  }
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(b) {
    this.reserve(1);
    this.buf[this.len++] = b;
  }
  u16(v) {
    this.reserve(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }
  u32(v) {
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }
  u64(v) {
    this.reserve(8);
    this.view.setBigUint64(this.len, BigInt(v));
    this.len += 8;
  }
  i64(v) {
    this.reserve(8);
    this.view.setBigInt64(this.len, BigInt(v));
    this.len += 8;
  }
  f32(v) {
    this.reserve(4);
    this.view.setFloat32(this.len, v);
    this.len += 4;
  }
  f64(v) {
    this.reserve(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }
  bytes(b) {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done() {
    return this.buf.slice(0, this.len);
  }
}

class Reader {
  constructor(bytes, what) {
    this.bytes = toBytes(bytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.pos = 0;
    this.what = what;
  }
  fail(why) {
    throw new CodecError(`cannot decode ${this.what}: ${why} (at byte ${this.pos})`);
  }
  need(n) {
    if (n > this.bytes.length - this.pos) this.fail('unexpected end of input');
  }
  u8() {
    this.need(1);
    return this.bytes[this.pos++];
  }
  u16() {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32() {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  u64() {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }
  i64() {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }
  f32() {
    this.need(4);
    const v = this.view.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }
  f64() {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }
  take(n) {
    this.need(n);
    const b = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  text(n) {
    this.need(n);
    const s = decodeUtf8(this.bytes.subarray(this.pos, this.pos + n), `cannot decode ${this.what}: text`);
    this.pos += n;
    return s;
  }
  end() {
    if (this.pos !== this.bytes.length) this.fail(`${this.bytes.length - this.pos} bytes after the value`);
  }
}

// A Number when it fits exactly, else the BigInt.
function intOut(big) {
  return big <= SAFE && big >= -SAFE ? Number(big) : big;
}

function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// Build the result of a decoded map: a plain object when every key is a string, else a Map.
// Duplicate keys are refused.
function buildMap(pairs, r) {
  if (pairs.every(([k]) => typeof k === 'string')) {
    const obj = {};
    for (const [k, v] of pairs) {
      if (Object.prototype.hasOwnProperty.call(obj, k)) r.fail(`duplicate map key ${JSON.stringify(k)}`);
      Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return obj;
  }
  const m = new Map();
  for (const [k, v] of pairs) {
    if (m.has(k)) r.fail('duplicate map key');
    m.set(k, v);
  }
  return m;
}

function cborHead(w, major, n) {
  // n: a non-negative Number (safe integer) or BigInt below 2^64
  const m = major << 5;
  if (typeof n === 'bigint') {
    if (n <= 0xffffffffn) n = Number(n);
    else {
      w.u8(m | 27);
      w.u64(n);
      return;
    }
  }
  if (n < 24) w.u8(m | n);
  else if (n < 0x100) {
    w.u8(m | 24);
    w.u8(n);
  } else if (n < 0x10000) {
    w.u8(m | 25);
    w.u16(n);
  } else if (n < 0x100000000) {
    w.u8(m | 26);
    w.u32(n);
  } else {
    w.u8(m | 27);
    w.u64(BigInt(n));
  }
}

function bigToBytes(n) {
  // n >= 0n
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function bytesToBig(b) {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

function cborInt(w, n) {
  // n: BigInt
  if (n >= 0n) {
    if (n < TWO_64) cborHead(w, 0, n);
    else {
      w.u8(0xc2);
      const b = bigToBytes(n);
      cborHead(w, 2, b.length);
      w.bytes(b);
    }
  } else {
    const m = -1n - n;
    if (m < TWO_64) cborHead(w, 1, m);
    else {
      w.u8(0xc3);
      const b = bigToBytes(m);
      cborHead(w, 2, b.length);
      w.bytes(b);
    }
  }
}

function cborEnc(w, v, depth) {
  if (depth > MAX_DEPTH) throw new CodecError(`cannot encode cbor: nested deeper than ${MAX_DEPTH} (a cycle?)`);
  switch (typeof v) {
    case 'undefined':
      return w.u8(0xf7);
    case 'boolean':
      return w.u8(v ? 0xf5 : 0xf4);
    case 'bigint':
      return cborInt(w, v);
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        if (v >= 0) cborHead(w, 0, v);
        else cborHead(w, 1, -1 - v);
      } else if (Math.fround(v) === v || Number.isNaN(v)) {
        w.u8(0xfa);
        w.f32(v);
      } else {
        w.u8(0xfb);
        w.f64(v);
      }
      return;
    case 'string': {
      const b = utf8Encoder.encode(v);
      cborHead(w, 3, b.length);
      return w.bytes(b);
    }
    case 'object':
      break;
    default:
      throw new CodecError(`cannot encode cbor: a ${typeof v} has no CBOR form`);
  }
  if (v === null) return w.u8(0xf6);
  if (v instanceof Uint8Array || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    const b = toBytes(v);
    cborHead(w, 2, b.length);
    return w.bytes(b);
  }
  if (Array.isArray(v)) {
    cborHead(w, 4, v.length);
    for (const x of v) cborEnc(w, x, depth + 1);
    return;
  }
  if (v instanceof Map) {
    cborHead(w, 5, v.size);
    for (const [k, x] of v) {
      cborEnc(w, k, depth + 1);
      cborEnc(w, x, depth + 1);
    }
    return;
  }
  if (v instanceof CborTag) {
    if (!Number.isSafeInteger(v.tag) || v.tag < 0) throw new CodecError(`cannot encode cbor: bad tag ${v.tag}`);
    cborHead(w, 6, v.tag);
    return cborEnc(w, v.value, depth + 1);
  }
  if (typeof v.toJSON === 'function' && !isPlainObject(v)) return cborEnc(w, v.toJSON(), depth + 1); // Date -> ISO text
  const keys = Object.keys(v).filter((k) => v[k] !== undefined); // like JSON: undefined members are left out
  cborHead(w, 5, keys.length);
  for (const k of keys) {
    cborEnc(w, k, depth + 1);
    cborEnc(w, v[k], depth + 1);
  }
}

/** CBOR bytes of a value (see above for the mapping). Throws a CodecError for what has no CBOR form. */
export function cborEncode(value) {
  const w = new Writer();
  cborEnc(w, value, 0);
  return w.done();
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// The argument of a head: a Number when it is safe, else a BigInt. Returns -1 for indefinite.
function cborArg(r, info) {
  if (info < 24) return info;
  switch (info) {
    case 24:
      return r.u8();
    case 25:
      return r.u16();
    case 26:
      return r.u32();
    case 27:
      return intOut(r.u64());
    case 31:
      return -1;
    default:
      return r.fail(`reserved additional information ${info}`);
  }
}

function cborLen(r, n) {
  // a length for bytes / items: a Number no bigger than what is left
  if (typeof n === 'bigint' || n > r.bytes.length - r.pos) r.fail('length beyond the end of input');
  return n;
}

const BREAK = Symbol('break');

function cborDec(r, depth) {
  if (depth > MAX_DEPTH) r.fail(`nested deeper than ${MAX_DEPTH}`);
  const ib = r.u8();
  const major = ib >> 5;
  const info = ib & 0x1f;
  if (major === 7) {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24: {
        const s = r.u8();
        if (s < 32) r.fail('badly encoded simple value');
        return r.fail(`unsupported simple value ${s}`);
      }
      case 25:
        return halfToFloat(r.u16());
      case 26:
        return r.f32();
      case 27:
        return r.f64();
      case 31:
        return BREAK;
      default:
        if (info < 20) r.fail(`unsupported simple value ${info}`);
        return r.fail(`reserved additional information ${info}`);
    }
  }
  const arg = cborArg(r, info);
  switch (major) {
    case 0:
      if (arg === -1) r.fail('indefinite length integer');
      return arg;
    case 1:
      if (arg === -1) r.fail('indefinite length integer');
      return typeof arg === 'bigint' ? intOut(-1n - arg) : arg < Number.MAX_SAFE_INTEGER ? -1 - arg : intOut(-1n - BigInt(arg));
    case 2:
    case 3: {
      if (arg !== -1) {
        const n = cborLen(r, arg);
        return major === 2 ? r.take(n) : r.text(n);
      }
      const chunks = [];
      for (;;) {
        const cb = r.u8();
        if (cb === 0xff) break;
        if (cb >> 5 !== major || (cb & 0x1f) === 31) r.fail('bad chunk in an indefinite length string');
        const n = cborLen(r, cborArg(r, cb & 0x1f));
        chunks.push(r.take(n));
      }
      const total = chunks.reduce((a, c) => a + c.length, 0);
      const out = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      return major === 2 ? out : decodeUtf8(out, 'cannot decode cbor: text');
    }
    case 4: {
      const items = [];
      if (arg === -1) {
        for (;;) {
          const x = cborDec(r, depth + 1);
          if (x === BREAK) break;
          items.push(x);
        }
      } else {
        const n = cborLen(r, arg);
        for (let i = 0; i < n; i++) items.push(cborItem(r, depth + 1));
      }
      return items;
    }
    case 5: {
      const pairs = [];
      if (arg === -1) {
        for (;;) {
          const k = cborDec(r, depth + 1);
          if (k === BREAK) break;
          pairs.push([k, cborItem(r, depth + 1)]);
        }
      } else {
        const n = cborLen(r, arg);
        for (let i = 0; i < n; i++) {
          const k = cborItem(r, depth + 1);
          pairs.push([k, cborItem(r, depth + 1)]);
        }
      }
      return buildMap(pairs, r);
    }
    case 6: {
      if (arg === -1) r.fail('indefinite length tag');
      const inner = cborItem(r, depth + 1);
      if (arg === 2 || arg === 3) {
        if (!(inner instanceof Uint8Array)) r.fail('a bignum tag needs a byte string');
        const n = bytesToBig(inner);
        return intOut(arg === 2 ? n : -1n - n);
      }
      return new CborTag(arg, inner);
    }
  }
  return r.fail('unreachable');
}

function cborItem(r, depth) {
  const x = cborDec(r, depth);
  if (x === BREAK) r.fail('unexpected break');
  return x;
}

/** The value in CBOR bytes (exactly one item). Throws a CodecError when malformed. */
export function cborDecode(bytes) {
  const r = new Reader(bytes, 'cbor');
  const v = cborItem(r, 0);
  r.end();
  return v;
}

// ---------------------------------------------------------------------------------------------
// MessagePack
//
// Encoding: null and undefined as nil; booleans; integer Numbers in the shortest int/uint
// form; other Numbers as float64; BigInts within int64/uint64 (beyond: a CodecError);
// strings; byte arrays as bin; arrays; Map and plain objects as maps; MsgpackExt as ext.
// Decoding: integers are Numbers within ±(2^53 - 1), else BigInts; bin is a Uint8Array;
// maps whose keys are all strings are plain objects, other maps Maps; ext types give a
// MsgpackExt. Malformed, truncated or trailing input, and nesting deeper than 256, throw a
// CodecError. (The Rust SDK writes structs as maps with field names: they decode to objects.)

/** A MessagePack extension value: new MsgpackExt(type, bytes), type -128..127. */
export class MsgpackExt {
  constructor(type, data) {
    this.type = type;
    this.data = data;
  }
}

const I64_MIN = -(1n << 63n);
const U64_MAX = TWO_64 - 1n;

function mpInt(w, n) {
  // n: BigInt or safe-integer Number
  if (typeof n === 'number') {
    if (n >= 0) {
      if (n < 0x80) return w.u8(n);
      if (n < 0x100) return (w.u8(0xcc), w.u8(n));
      if (n < 0x10000) return (w.u8(0xcd), w.u16(n));
      if (n < 0x100000000) return (w.u8(0xce), w.u32(n));
      return (w.u8(0xcf), w.u64(n));
    }
    if (n >= -32) return w.u8(n & 0xff);
    if (n >= -0x80) return (w.u8(0xd0), w.u8(n & 0xff));
    if (n >= -0x8000) return (w.u8(0xd1), w.u16(n & 0xffff));
    if (n >= -0x80000000) return (w.u8(0xd2), w.u32(n >>> 0));
    return (w.u8(0xd3), w.i64(n));
  }
  if (n > U64_MAX || n < I64_MIN) throw new CodecError(`cannot encode messagepack: ${n} is beyond 64 bits`);
  if (n <= SAFE && n >= -SAFE) return mpInt(w, Number(n));
  if (n > 0n) return (w.u8(0xcf), w.u64(n));
  return (w.u8(0xd3), w.i64(n));
}

function mpHead(w, n, fix, fixMax, c8, c16, c32) {
  if (fix !== undefined && n <= fixMax) return w.u8(fix | n);
  if (c8 !== undefined && n < 0x100) return (w.u8(c8), w.u8(n));
  if (n < 0x10000) return (w.u8(c16), w.u16(n));
  if (n <= 0xffffffff) return (w.u8(c32), w.u32(n));
  throw new CodecError('cannot encode messagepack: longer than 2^32 - 1');
}

function mpEnc(w, v, depth) {
  if (depth > MAX_DEPTH) throw new CodecError(`cannot encode messagepack: nested deeper than ${MAX_DEPTH} (a cycle?)`);
  switch (typeof v) {
    case 'undefined':
      return w.u8(0xc0);
    case 'boolean':
      return w.u8(v ? 0xc3 : 0xc2);
    case 'bigint':
      return mpInt(w, v);
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return mpInt(w, v);
      w.u8(0xcb);
      return w.f64(v);
    case 'string': {
      const b = utf8Encoder.encode(v);
      mpHead(w, b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      return w.bytes(b);
    }
    case 'object':
      break;
    default:
      throw new CodecError(`cannot encode messagepack: a ${typeof v} has no MessagePack form`);
  }
  if (v === null) return w.u8(0xc0);
  if (v instanceof Uint8Array || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    const b = toBytes(v);
    mpHead(w, b.length, undefined, -1, 0xc4, 0xc5, 0xc6);
    return w.bytes(b);
  }
  if (Array.isArray(v)) {
    mpHead(w, v.length, 0x90, 15, undefined, 0xdc, 0xdd);
    for (const x of v) mpEnc(w, x, depth + 1);
    return;
  }
  if (v instanceof Map) {
    mpHead(w, v.size, 0x80, 15, undefined, 0xde, 0xdf);
    for (const [k, x] of v) {
      mpEnc(w, k, depth + 1);
      mpEnc(w, x, depth + 1);
    }
    return;
  }
  if (v instanceof MsgpackExt) {
    const b = toBytes(v.data);
    if (!Number.isInteger(v.type) || v.type < -128 || v.type > 127) throw new CodecError(`cannot encode messagepack: bad ext type ${v.type}`);
    const fixed = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[b.length];
    if (fixed) w.u8(fixed);
    else mpHead(w, b.length, undefined, -1, 0xc7, 0xc8, 0xc9);
    w.u8(v.type & 0xff);
    return w.bytes(b);
  }
  if (typeof v.toJSON === 'function' && !isPlainObject(v)) return mpEnc(w, v.toJSON(), depth + 1);
  const keys = Object.keys(v).filter((k) => v[k] !== undefined); // like JSON: undefined members are left out
  mpHead(w, keys.length, 0x80, 15, undefined, 0xde, 0xdf);
  for (const k of keys) {
    mpEnc(w, k, depth + 1);
    mpEnc(w, v[k], depth + 1);
  }
}

/** MessagePack bytes of a value (see above). Throws a CodecError for what has no MessagePack form. */
export function msgpackEncode(value) {
  const w = new Writer();
  mpEnc(w, value, 0);
  return w.done();
}

function mpDec(r, depth) {
  if (depth > MAX_DEPTH) r.fail(`nested deeper than ${MAX_DEPTH}`);
  const b = r.u8();
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b < 0x90) return mpMap(r, b & 0x0f, depth);
  if (b < 0xa0) return mpArray(r, b & 0x0f, depth);
  if (b < 0xc0) return r.text(b & 0x1f);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return r.take(r.u8());
    case 0xc5:
      return r.take(r.u16());
    case 0xc6:
      return r.take(r.u32());
    case 0xc7:
      return mpExt(r, r.u8());
    case 0xc8:
      return mpExt(r, r.u16());
    case 0xc9:
      return mpExt(r, r.u32());
    case 0xca:
      return r.f32();
    case 0xcb:
      return r.f64();
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf:
      return intOut(r.u64());
    case 0xd0: {
      const x = r.u8();
      return x < 0x80 ? x : x - 0x100;
    }
    case 0xd1: {
      const x = r.u16();
      return x < 0x8000 ? x : x - 0x10000;
    }
    case 0xd2: {
      const x = r.u32();
      return x < 0x80000000 ? x : x - 0x100000000;
    }
    case 0xd3:
      return intOut(r.i64());
    case 0xd4:
      return mpExt(r, 1);
    case 0xd5:
      return mpExt(r, 2);
    case 0xd6:
      return mpExt(r, 4);
    case 0xd7:
      return mpExt(r, 8);
    case 0xd8:
      return mpExt(r, 16);
    case 0xd9:
      return r.text(r.u8());
    case 0xda:
      return r.text(r.u16());
    case 0xdb:
      return r.text(r.u32());
    case 0xdc:
      return mpArray(r, r.u16(), depth);
    case 0xdd:
      return mpArray(r, r.u32(), depth);
    case 0xde:
      return mpMap(r, r.u16(), depth);
    case 0xdf:
      return mpMap(r, r.u32(), depth);
    default:
      return r.fail(`invalid byte 0x${b.toString(16)}`);
  }
}

function mpExt(r, n) {
  const t = r.u8();
  return new MsgpackExt(t < 0x80 ? t : t - 0x100, r.take(n));
}

function mpArray(r, n, depth) {
  if (n > r.bytes.length - r.pos) r.fail('length beyond the end of input');
  const items = [];
  for (let i = 0; i < n; i++) items.push(mpDec(r, depth + 1));
  return items;
}

function mpMap(r, n, depth) {
  if (n * 2 > r.bytes.length - r.pos) r.fail('length beyond the end of input');
  const pairs = [];
  for (let i = 0; i < n; i++) {
    const k = mpDec(r, depth + 1);
    pairs.push([k, mpDec(r, depth + 1)]);
  }
  return buildMap(pairs, r);
}

/** The value in MessagePack bytes (exactly one). Throws a CodecError when malformed. */
export function msgpackDecode(bytes) {
  const r = new Reader(bytes, 'messagepack');
  const v = mpDec(r, 0);
  r.end();
  return v;
}

// ---------------------------------------------------------------------------------------------
// Host imports. Every wrapper that can be refused throws a HostError (see above).

function checkPayload(payload) {
  if (payload === null || typeof payload !== 'object' || typeof payload.codec !== 'number') {
    throw new TypeError('expected a payload { codec: number, bytes }: use raw(), json(), cbor() or msgpack()');
  }
  return { codec: payload.codec, bytes: toBytes(payload.bytes) };
}

/**
 * Messaging between components (WIT interface `messaging`). Timeouts are milliseconds
 * (Numbers); correlation ids are BigInts.
 */
export const messaging = Object.freeze({
  /** Fire-and-forget. Throws a HostError with a send-error kind ('unknown-target', 'not-permitted', ...). */
  send(target, payload) {
    host(`send to ${target}`, () => wasmSend(target, checkPayload(payload)));
  },
  /** Asynchronous request: its correlation id (a BigInt); the outcome comes to handleCallback with it. */
  request(target, payload, timeoutMs = 5000) {
    return host(`request to ${target}`, () => wasmRequest(target, checkPayload(payload), timeoutMs));
  },
  /** Drop a pending request (id: BigInt). False if it was not pending. */
  cancel(id) {
    return wasmCancel(BigInt(id));
  },
  /**
   * Blocking request-response: the response payload, or undefined when the handler returned
   * none. Throws a HostError with a request-error kind: 'timeout', 'receiver-crashed',
   * 'handler-error' (detail: its text), or 'refused' (detail: the send-error { tag, val }).
   */
  call(target, payload, timeoutMs = 5000) {
    return host(`call to ${target}`, () => wasmCall(target, checkPayload(payload), timeoutMs));
  },
  /** Publish to a topic; how many subscribers it was queued for (a Number). */
  publish(topic, payload) {
    return host(`publish to ${topic}`, () => wasmPublish(topic, checkPayload(payload)));
  },
  /** Subscribe to a pattern (`*` one segment, `#` the rest). Renew it in init after a restart. */
  subscribe(pattern) {
    host(`subscribe to ${pattern}`, () => wasmSubscribe(pattern));
  },
  /** Unsubscribe; false if there was no such subscription. */
  unsubscribe(pattern) {
    return wasmUnsubscribe(pattern);
  },
  /** This component's own address. */
  selfAddress() {
    return wasmSelfAddress();
  },
});

/** Links and monitors (WIT interface `links`). Monitor ids are BigInts. */
export const links = Object.freeze({
  /** Link with a component; throws a HostError ('unknown-target', 'pool', 'not-permitted'). */
  link(target) {
    host(`link to ${target}`, () => wasmLink(target));
  },
  unlink(target) {
    return wasmUnlink(target);
  },
  /** Monitor a component: the monitor id (a BigInt) that its `down` notice will carry. */
  monitor(target) {
    return host(`monitor ${target}`, () => wasmMonitor(target));
  },
  demonitor(id) {
    return wasmDemonitor(BigInt(id));
  },
  /** Trap exits (or stop): while trapping, a linked component's end comes as an `exit` notice. */
  trapExits(on = true) {
    wasmTrapExits(Boolean(on));
  },
});

function logFields(fields) {
  if (!fields) return [];
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  return pairs.map(([k, v]) => [String(k), typeof v === 'string' ? v : safeString(v)]);
}

/**
 * Logging into the host's logs (WIT interface `logging`): log.info('text', { key: value }).
 * Fields are an object or [key, value] pairs; values that are not strings are written as JSON.
 * (console.log also works: it goes to the host's logs as the component's stdout.)
 */
export const log = Object.freeze({
  /** level: 'trace' | 'debug' | 'info' | 'warn' | 'error'. */
  log(level, message, fields) {
    wasmLog(level, String(message), logFields(fields));
  },
  trace: (message, fields) => wasmLog('trace', String(message), logFields(fields)),
  debug: (message, fields) => wasmLog('debug', String(message), logFields(fields)),
  info: (message, fields) => wasmLog('info', String(message), logFields(fields)),
  warn: (message, fields) => wasmLog('warn', String(message), logFields(fields)),
  error: (message, fields) => wasmLog('error', String(message), logFields(fields)),
});

/** Configuration (WIT interface `config`). init also gets every pair as [key, value] arrays. */
export const config = Object.freeze({
  /** One key's value, or undefined. */
  get(key) {
    return wasmConfigGet(key);
  },
  /** One key's value, or `fallback`. */
  getOr(key, fallback) {
    const v = wasmConfigGet(key);
    return v === undefined ? fallback : v;
  },
});

/**
 * Running granted host commands (WIT interface `process`). run() returns
 * { exitCode?: number, signal?: number, timedOut: boolean, stdout: Uint8Array,
 *   stderr: Uint8Array, truncated: boolean } or throws a HostError ('not-permitted',
 * 'rate-limited', 'failed').
 */
export const process = Object.freeze({
  run(command, args = [], timeoutMs = 10000) {
    return host(`run ${command}`, () => wasmRun(command, args.map(String), timeoutMs));
  },
});

/**
 * The component's durable key-value storage (WIT interface `storage`). Values are bytes
 * (Uint8Array); strings are written as UTF-8. Every call may throw a HostError with a
 * storage-error kind ('not-permitted' without a storage grant, 'quota-exceeded', ...).
 */
export const storage = Object.freeze({
  /** A key's value (Uint8Array) or undefined. */
  get(key) {
    return host(`storage get ${key}`, () => wasmStorageGet(key));
  },
  /** A key's value as text, or undefined. */
  getText(key) {
    const v = host(`storage get ${key}`, () => wasmStorageGet(key));
    return v === undefined ? undefined : decodeUtf8(v, `storage value of ${key} is not text`);
  },
  /** Set a key (value: bytes or a string). */
  set(key, value) {
    host(`storage set ${key}`, () => wasmStorageSet(key, toBytes(value)));
  },
  /** Delete a key; whether it existed. */
  delete(key) {
    return host(`storage delete ${key}`, () => wasmStorageDelete(key));
  },
  exists(key) {
    return host(`storage exists ${key}`, () => wasmStorageExists(key));
  },
  /** One page: { keys: string[], cursor?: string }. limit 1 to 1000. */
  listKeys(prefix = '', cursor = undefined, limit = 1000) {
    return host(`storage list-keys ${prefix}`, () => wasmStorageListKeys(prefix, cursor, limit));
  },
  /** Every key starting with `prefix`, all pages. */
  keys(prefix = '') {
    const all = [];
    let cursor;
    do {
      const page = host(`storage list-keys ${prefix}`, () => wasmStorageListKeys(prefix, cursor, 1000));
      all.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return all;
  },
  /** Add delta (a Number or BigInt, default 1) to a counter; its new value, a BigInt (s64). */
  increment(key, delta = 1n) {
    return host(`storage increment ${key}`, () => wasmStorageIncrement(key, BigInt(delta)));
  },
  /** Atomic compare-and-swap: expected / next are bytes, strings or undefined (absent). */
  compareAndSwap(key, expected, next) {
    const e = expected === undefined ? undefined : toBytes(expected);
    const n = next === undefined ? undefined : toBytes(next);
    return host(`storage compare-and-swap ${key}`, () => wasmStorageCompareAndSwap(key, e, n));
  },
  /** All or nothing. writes: [{ set: [key, value] } | { delete: key }, ...]. */
  batch(writes) {
    const ws = writes.map((w) => {
      if (w && 'set' in w) return { tag: 'set', val: [String(w.set[0]), toBytes(w.set[1])] };
      if (w && 'delete' in w) return { tag: 'delete', val: String(w.delete) };
      if (w && (w.tag === 'set' || w.tag === 'delete')) return w;
      throw new TypeError('a batch write is { set: [key, value] } or { delete: key }');
    });
    host('storage batch', () => wasmStorageBatch(ws));
  },
  /** { bytes, keys, quotaBytes, quotaKeys }, all BigInts. */
  usage() {
    return host('storage usage', () => wasmStorageUsage());
  },
});

// ---------------------------------------------------------------------------------------------
// The export

const noop = () => {};

function normalizeResponse(r) {
  if (r === undefined || r === null) return undefined;
  if (typeof r === 'string' || r instanceof Uint8Array) return raw(r);
  return r;
}

/**
 * The `actor` export from the handlers you write; the missing ones do nothing. handleMessage
 * may return a payload, undefined (no response), a string or a Uint8Array (sent as raw), or a
 * promise of one of these.
 *
 *   export const actor = defineActor({ init(config) {...}, handleMessage(message) {...} });
 *
 * init(config: Array<[string, string]>)
 * handleMessage(message: { sender, payload: { codec, bytes }, correlation?: bigint, topic?, trace? })
 * handleCallback(id: bigint, outcome: { tag: 'ok', val?: payload } | { tag: 'err', val: request-error })
 * handleNotice(notice: { tag: 'down', val: { monitor: bigint, target, reason } }
 *                    | { tag: 'exit', val: { partner, reason } })   reason: { tag: 'normal' | 'crashed', val? ... }
 * shutdown()
 */
export function defineActor(handlers) {
  if (!handlers || typeof handlers.handleMessage !== 'function') {
    throw new TypeError('defineActor needs at least a handleMessage(message) function');
  }
  const handleMessage = (message) => {
    const r = handlers.handleMessage(message);
    if (r && typeof r.then === 'function') return r.then(normalizeResponse);
    return normalizeResponse(r);
  };
  return {
    init: handlers.init ? (c) => handlers.init(c) : noop,
    handleMessage,
    handleCallback: handlers.handleCallback ? (id, outcome) => handlers.handleCallback(id, outcome) : noop,
    handleNotice: handlers.handleNotice ? (n) => handlers.handleNotice(n) : noop,
    shutdown: handlers.shutdown ? () => handlers.shutdown() : noop,
  };
}
