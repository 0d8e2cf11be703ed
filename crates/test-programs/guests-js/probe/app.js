// probe: a JavaScript test guest for the AirsSys host, written with the JS SDK
// (sdk/javascript/airssys.js). Build it with the SDK's build script, which supplies
// ./airssys.js from the SDK when it is not beside this file:
//
//   node sdk/javascript/build.mjs crates/test-programs/guests-js/probe/app.js wit /tmp/probe.wasm
//
// Messages are raw (0x55) UTF-8 text commands; answers are raw text.
//
//   echo:<text>               <text>
//   count                     messages handled since init, this one included
//   self                      its own address
//   whoami                    the sender stamped on this message
//   call:<text>               calls config `target` (5000 ms) with raw <text>: the response text
//                             (empty when none), or error:<kind>
//   send:<text>               sends raw <text> to `target`: sent, or error:<kind>
//   send-to:<address>:<text>  sends to any address: sent, or error:<kind>
//   request:<ms>:<text>       requests from `target`: requested <id>; the outcome, recorded by
//                             handleCallback, is ok:<response text>, timeout, or error:<kind>
//   callbacks                 the recorded outcomes, one per line ('' if none)
//   subscribe:<pattern>       subscribed, or error:<kind>
//   publish:<topic>:<text>    published <n>, or error:<kind>
//   received                  the published messages received, one per line, each
//                             <topic>:<text> from <sender> ('' if none)
//   put:<key>:<value>         stored, or error:<kind>
//   get:<key>                 the value, none, or error:<kind>
//   incr:<key>                the counter's new value, or error:<kind>
//   run:<command>             runs a granted command without arguments (1000 ms): exit <code>
//                             (signal <n>, timeout), or error:<kind>
//   crash                     traps (a wasm trap: the supervisor restarts the instance)
//   fail:<text>               returns err(<text>)
//   spin                      loops forever (the host interrupts it at its CPU budget)
//   anything else             err(unknown command: ...)
//
// <kind> is the WIT variant tag of the refusal in kebab-case ('unknown-target',
// 'not-permitted', 'timeout', 'handler-error', 'receiver-crashed', 'invalid', ...); a
// request-error `refused` carries its send-error: 'refused:unknown-target'. `error:no-target`
// when config `target` is not set.
//
// Config: `target` (the component call/send/request talk to), `subscribe` (a pattern
// subscribed to in init).
//
// A published message (message.topic set) is recorded, not answered. Published and other
// non-raw payloads are read as UTF-8 text too.

import { defineActor, messaging, storage, config, process, log, raw, asText, fail, trap, HostError, variantText } from './airssys.js';

let handled = 0;
const callbacks = [];
const received = [];

// error:<kind> for a HostError; anything else propagates (and, being a plain Error, traps).
function refusal(e) {
  if (e instanceof HostError) return `error:${e.code}`;
  throw e;
}

function attempt(f) {
  try {
    return f();
  } catch (e) {
    return refusal(e);
  }
}

function target() {
  return config.get('target');
}

// The text after the first ':' of `rest`, split in two: 'a:b:c' -> ['a', 'b:c'].
function splitOnce(rest, what) {
  const i = rest.indexOf(':');
  if (i < 0) throw fail(`expected ${what}`);
  return [rest.slice(0, i), rest.slice(i + 1)];
}

function outcomeText(outcome) {
  if (outcome.tag === 'ok') return `ok:${outcome.val === undefined ? '' : asText(outcome.val)}`;
  const e = outcome.val;
  if (e.tag === 'timeout') return 'timeout';
  return `error:${e.tag}${e.tag === 'refused' ? `:${e.val.tag}` : ''}`;
}

function handle(message) {
  handled += 1;
  const body = asText(message.payload);

  if (message.topic !== undefined) {
    received.push(`${message.topic}:${body} from ${message.sender}`);
    return undefined;
  }

  const colon = body.indexOf(':');
  const cmd = colon < 0 ? body : body.slice(0, colon);
  const rest = colon < 0 ? '' : body.slice(colon + 1);
  const hasArg = colon >= 0;

  switch (hasArg ? `${cmd}:` : cmd) {
    case 'echo:':
      return rest;
    case 'count':
      return String(handled);
    case 'self':
      return messaging.selfAddress();
    case 'whoami':
      return message.sender;
    case 'call:': {
      const t = target();
      if (t === undefined) return 'error:no-target';
      return attempt(() => {
        const response = messaging.call(t, raw(rest), 5000);
        return response === undefined ? '' : asText(response);
      });
    }
    case 'send:': {
      const t = target();
      if (t === undefined) return 'error:no-target';
      return attempt(() => (messaging.send(t, raw(rest)), 'sent'));
    }
    case 'send-to:': {
      const [address, text] = splitOnce(rest, 'send-to:<address>:<text>');
      return attempt(() => (messaging.send(address, raw(text)), 'sent'));
    }
    case 'request:': {
      const t = target();
      if (t === undefined) return 'error:no-target';
      const [ms, text] = splitOnce(rest, 'request:<ms>:<text>');
      const timeout = Number(ms);
      if (!Number.isInteger(timeout) || timeout < 0 || timeout > 0xffffffff) throw fail(`bad timeout: ${ms}`);
      return attempt(() => `requested ${messaging.request(t, raw(text), timeout)}`); // the id is a BigInt
    }
    case 'callbacks':
      return callbacks.join('\n');
    case 'subscribe:':
      return attempt(() => (messaging.subscribe(rest), 'subscribed'));
    case 'publish:': {
      const [topic, text] = splitOnce(rest, 'publish:<topic>:<text>');
      return attempt(() => `published ${messaging.publish(topic, raw(text))}`);
    }
    case 'received':
      return received.join('\n');
    case 'put:': {
      const [key, value] = splitOnce(rest, 'put:<key>:<value>');
      return attempt(() => (storage.set(key, value), 'stored'));
    }
    case 'get:':
      return attempt(() => storage.getText(rest) ?? 'none');
    case 'incr:':
      return attempt(() => String(storage.increment(rest, 1n))); // s64: a BigInt
    case 'run:':
      return attempt(() => {
        const out = process.run(rest, [], 1000);
        if (out.timedOut) return 'timeout';
        if (out.exitCode !== undefined) return `exit ${out.exitCode}`;
        return `signal ${out.signal}`;
      });
    case 'crash':
      return trap('crash requested');
    case 'fail:':
      throw fail(rest);
    case 'spin':
      for (;;) {
        // the host's CPU budget interrupts this
      }
    default:
      throw fail(`unknown command: ${body}`);
  }
}

export const actor = defineActor({
  init(cfg) {
    handled = 0;
    const pattern = cfg.find(([k]) => k === 'subscribe')?.[1];
    if (pattern !== undefined) messaging.subscribe(pattern); // a refusal fails the start
    log.debug('probe started', { target: target() ?? '', subscribe: pattern ?? '' });
  },

  handleMessage: handle,

  handleCallback(id, outcome) {
    // id: BigInt, the value request() returned
    callbacks.push(outcomeText(outcome));
    log.debug('callback', { id: String(id), outcome: variantText(outcome) });
  },

  handleNotice(notice) {
    log.info('notice', { notice: variantText(notice) });
  },
});
