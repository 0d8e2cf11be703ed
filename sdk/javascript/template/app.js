// An AirsSys component in JavaScript: a greeter that counts its greetings in durable storage.
//
//   npm install            # once: componentize-js and preview2-shim (see package.json)
//   airssys build          # or: node build.mjs app.js wit build/app.wasm
//   airssys up             # then, from another terminal:
//   airssys call NAME '{"name": "Ada"}' --codec json    # {"count": 1, "text": "Hello, Ada!"}
//   airssys call NAME Bob                               # Hello, Bob! (#2)      (raw text)
//
// The export is the object `actor`; defineActor fills in the handlers left out (init,
// handleCallback, handleNotice, shutdown). Return a payload (or a string, sent as raw text) to
// answer; `throw fail('...')` answers an error; any other exception crashes the instance, and
// its supervisor restarts it. Values the host passes as u64/s64 are BigInts.

import { defineActor, decode, encode, asText, config, storage, log, fail, RAW } from './airssys.js';

let greeting = 'Hello';

export const actor = defineActor({
  init(cfg) {
    // cfg: the manifest's `config` as [key, value] pairs; config.get(key) reads one too.
    greeting = config.getOr('greeting', greeting);
    log.info('greeter started', { greeting });
  },

  handleMessage(message) {
    const { codec } = message.payload;
    if (codec === RAW) {
      // Raw bytes: read them as UTF-8 text, answer text.
      const name = asText(message.payload).trim() || 'stranger';
      const count = storage.increment('greetings'); // a BigInt (s64)
      return `${greeting}, ${name}! (#${count})`;
    }
    // JSON, CBOR or MessagePack: answer in the same codec. decode() throws a CodecError on
    // bad input (or another codec), which answers an error instead of crashing.
    const request = decode(message.payload);
    if (typeof request?.name !== 'string') throw fail('expected {"name": "..."}');
    const count = storage.increment('greetings');
    return encode(codec, { text: `${greeting}, ${request.name}!`, count: Number(count) });
  },
});
