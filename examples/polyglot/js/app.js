// The watcher, in JavaScript: listens to what the ledger publishes, and audits it with an
// asynchronous request.
//
// - init: subscribes to `ledger.*` (the Python ledger publishes `ledger.total`).
// - a published message: recorded as `<topic> from <sender>: <payload text>`.
// - `audit`: REQUESTS `total` from the ledger (request/callback: it answers `audit requested`
//   at once, and the ledger's answer comes later to handleCallback), recorded as
//   `audit: total <n>` or `audit failed: <reason>`.
// - `heard`: what it recorded, one line each, oldest first (empty before anything).
// - `forget`: clears the record; answers `forgot <count>`.
//
// What it records lives in the instance (a restart starts over); subscriptions too, which is
// why init subscribes.

import { defineActor, messaging, config, raw, asText, fail, variantText } from './airssys.js';

const heard = [];
const pending = new Map(); // request id (a BigInt) -> what it asked

export const actor = defineActor({
  init() {
    messaging.subscribe('ledger.*');
  },

  handleMessage(message) {
    if (message.topic !== undefined) {
      heard.push(`${message.topic} from ${message.sender}: ${asText(message.payload)}`);
      return undefined;
    }
    const command = asText(message.payload).trim();
    if (command === 'audit') {
      const ledger = config.getOr('ledger', 'python');
      const id = messaging.request(ledger, raw('total'), 2000); // its id, a BigInt
      pending.set(id, 'total');
      return 'audit requested';
    }
    if (command === 'heard') return heard.join('\n');
    if (command === 'forget') {
      const n = heard.length;
      heard.length = 0;
      return `forgot ${n}`;
    }
    throw fail(`unknown command ${JSON.stringify(command)}: use audit, heard or forget`);
  },

  handleCallback(id, outcome) {
    if (!pending.delete(id)) return;
    if (outcome.tag === 'ok') {
      heard.push(`audit: total ${outcome.val ? asText(outcome.val) : '(no answer)'}`);
    } else {
      heard.push(`audit failed: ${variantText(outcome.val)}`);
    }
  },
});
