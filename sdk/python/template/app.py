"""A component: greets whoever asks, and counts greetings in its durable storage.

Send it JSON (or CBOR, or MessagePack) like {"name": "Ada"} and it answers
{"text": "Hello, Ada!", "count": 1} in the same codec; send it raw text (Ada) and it answers
raw text (Hello, Ada! (#2)). The count lives in storage, so it survives restarts.

Build: airssys build   (runs componentize-py -d wit -w component componentize app -p . -o build/app.wasm)
"""

import airssys
from airssys import Actor as Base, Err


class Actor(Base):
    def init(self, config):
        # Runs once per instance, before any message. `config` is a list of (key, value)
        # pairs; airssys.config.get reads one key at any time.
        self.greeting = airssys.config.get("greeting", "Hello")

    def handle_message(self, message):
        if message.payload.codec == airssys.RAW:
            name = airssys.text(message).strip() or "world"
        else:
            request = airssys.decode(message)  # a CodecError here answers err, it does not trap
            if not isinstance(request, dict) or not isinstance(request.get("name"), str):
                raise Err('expected {"name": "..."}')
            name = request["name"]

        # Durable, private to this component; needs a storage grant. A refusal raises
        # airssys.HostError, which answers err with its text.
        count = airssys.storage.increment("greetings")
        text = f"{self.greeting}, {name}!"
        airssys.log.info("greeted", name=name, count=count)

        if message.payload.codec == airssys.RAW:
            return airssys.raw(f"{text} (#{count})")
        return airssys.encode(airssys.reply_codec(message), {"text": text, "count": count})
