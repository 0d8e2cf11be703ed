"""The ledger, in Python: keeps a running total in durable storage and adds with the help of
the Rust calculator.

Raw text commands:

- ``add:<n>``: CALLS the calculator (``{"op": "add", "a": <total>, "b": <n>}`` in JSON, which
  answers ``{"value": <sum>}``), stores the new total, PUBLISHES ``{"total": <total>,
  "added": <n>}`` (JSON) on ``ledger.total``, and answers the new total (``5``).
- ``total``: answers the stored total (``0`` before the first ``add``).
- ``reset``: deletes the stored total and answers ``0``.

Numbers that are whole are written without a fraction (``5``, not ``5.0``). A bad number or
an unknown command answers err; a refused or failed call to the calculator answers err with
the host's reason (``call failed: ...``).
"""

import airssys
from airssys import Actor as Base, Err

TOPIC = "ledger.total"
KEY = "total"


def number(value):
    """A float as an int when it is whole (5.0 -> 5), so that totals read as people write them."""
    value = float(value)
    return int(value) if value.is_integer() else value


class Actor(Base):
    def init(self, config):
        self.calculator = airssys.config.get("calculator", "calculator")

    def total(self):
        return number(airssys.storage.get_value(KEY, default=0))

    def handle_message(self, message):
        command = airssys.text(message).strip()
        if command.startswith("add:"):
            try:
                n = number(command[len("add:"):])
            except ValueError:
                raise Err(f"not a number: {command[len('add:'):]!r}") from None
            # A blocking call to the Rust component, in JSON (the calculator accepts only JSON).
            answer = airssys.call(self.calculator, {"op": "add", "a": self.total(), "b": n},
                                  timeout_ms=2000)
            if answer is None:
                raise Err("the calculator gave no answer")
            total = number(airssys.decode(answer)["value"])
            airssys.storage.set_value(KEY, total)
            reached = airssys.publish(TOPIC, {"total": total, "added": n})  # a dict goes as JSON
            airssys.log.info("added", n=n, total=total, subscribers=reached)
            return airssys.raw(str(total))
        if command == "total":
            return airssys.raw(str(self.total()))
        if command == "reset":
            airssys.storage.delete(KEY)
            return airssys.raw("0")
        raise Err(f"unknown command {command!r}: use add:<n>, total or reset")
