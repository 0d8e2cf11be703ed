"""probe: a Python test guest that exercises the host interfaces through sdk/python/airssys.py.

Built by crates/test-programs/build.rs, from a copy of this folder with sdk/python/airssys.py
beside it (componentize-py writes __pycache__/ into its module path, which must not be the
source tree):

    componentize-py -d wit -w component componentize app -p COPY -o probe.wasm

Every message is a raw (0x55) UTF-8 command; every answer is raw text. Host refusals answer
``error:<case>`` with the WIT case in kebab-case (a refused request or call:
``error:refused:<send-error case>``).

    echo:<text>               <text>
    count                     messages handled by this instance since init, this one included
    self                      its own address
    whoami                    the sender stamped on this message
    call:<text>               calls config `target` (5000 ms) with raw <text>: the response text
                              (`none` when it answered nothing) or error:<case>
    send:<text>               sends to config `target`: `sent` or error:<case>
    send-to:<address>:<text>  sends to <address>: `sent` or error:<case>
    request:<ms>:<text>       requests from config `target`: `requested <id>` or error:<case>;
                              the outcome is recorded as ok:<text> / timeout / error:<case>
    callbacks                 the recorded outcomes, one per line (empty if none)
    subscribe:<pattern>       `subscribed` or error:<case>
    publish:<topic>:<text>    `published <n>` or error:<case>
    received                  published messages received, `<topic>:<text> from <sender>`,
                              one per line (empty if none)
    put:<key>:<value>         storage set: `stored` or error:<case>
    get:<key>                 the value as text, `none`, or error:<case>
    incr:<key>                storage increment by 1: the new value, or error:<case>
    run:<command>             runs <command> (no args, 1000 ms): `exit <code>`, `signal <n>`,
                              `timed-out` or error:<case>
    crash                     traps the instance (the supervisor restarts it)
    fail:<text>               returns err(<text>) (no trap)
    spin                      loops forever (the host traps it at its CPU budget)
    anything else             err(`unknown command: ...`)

Config: `target` (the component `call`, `send` and `request` talk to); `subscribe` (patterns
to subscribe to in init, comma-separated).
"""

import airssys
from airssys import Actor as Base, Err, HostError, Ok


def _failure(error):
    """`error:<case>`, with the nested send error of a refused request or call."""
    if error.kind == "refused" and error.detail is not None:
        return f"error:refused:{airssys.variant_name(error.detail)}"
    return f"error:{error.kind}"


def _target():
    target = airssys.config.get("target")
    if target is None:
        raise Err("no `target` in the configuration")
    return target


class Actor(Base):
    def init(self, config):
        self.count = 0
        self.callbacks = []
        self.received = []
        for key, value in config:
            if key == "subscribe":
                for pattern in value.split(","):
                    if pattern.strip():
                        # A refusal fails the start (HostError becomes err).
                        airssys.subscribe(pattern.strip())

    def handle_message(self, message):
        self.count += 1
        body = airssys.text(message)
        if message.topic is not None:
            self.received.append(f"{message.topic}:{body} from {message.sender}")
            return None
        return airssys.raw(self.command(message, body))

    def command(self, message, body):
        cmd, _, rest = body.partition(":")
        try:
            if cmd == "echo":
                return rest
            if body == "count":
                return str(self.count)
            if body == "self":
                return airssys.self_address()
            if body == "whoami":
                return message.sender
            if cmd == "call":
                answer = airssys.call(_target(), airssys.raw(rest), timeout_ms=5000)
                return "none" if answer is None else airssys.text(answer)
            if cmd == "send":
                airssys.send(_target(), airssys.raw(rest))
                return "sent"
            if cmd == "send-to":
                address, _, words = rest.partition(":")
                airssys.send(address, airssys.raw(words))
                return "sent"
            if cmd == "request":
                ms, _, words = rest.partition(":")
                if not ms.isdigit():
                    raise Err(f"request wants request:<ms>:<text>, not {body!r}")
                id = airssys.request(_target(), airssys.raw(words), timeout_ms=int(ms))
                return f"requested {id}"
            if body == "callbacks":
                return "\n".join(self.callbacks)
            if cmd == "subscribe":
                airssys.subscribe(rest)
                return "subscribed"
            if cmd == "publish":
                topic, _, words = rest.partition(":")
                n = airssys.publish(topic, airssys.raw(words))
                return f"published {n}"
            if body == "received":
                return "\n".join(self.received)
            if cmd == "put":
                key, _, value = rest.partition(":")
                airssys.storage.set(key, value)
                return "stored"
            if cmd == "get":
                value = airssys.storage.get_text(rest)
                return "none" if value is None else value
            if cmd == "incr":
                return str(airssys.storage.increment(rest, 1))
            if cmd == "run":
                out = airssys.process.run(rest, [], timeout_ms=1000)
                if out.exit_code is not None:
                    return f"exit {out.exit_code}"
                if out.timed_out:
                    return "timed-out"
                return f"signal {out.signal}"
            if body == "crash":
                airssys.crash("the probe was told to crash")
            if cmd == "fail":
                raise Err(rest)
            if body == "spin":
                while True:
                    pass
        except HostError as e:
            return _failure(e)
        raise Err(f"unknown command: {body}")

    def handle_callback(self, id, outcome):
        if isinstance(outcome, Ok):
            answer = outcome.value
            self.callbacks.append("ok:" + ("" if answer is None else airssys.text(answer)))
        elif airssys.variant_name(outcome.value) == "timeout":
            self.callbacks.append("timeout")
        else:
            self.callbacks.append(_failure(HostError("request", outcome.value)))
