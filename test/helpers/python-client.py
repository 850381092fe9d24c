"""Sends the calls read from stdin through Segment's Python library (`segment.analytics`).

Input (JSON): {"host", "writeKey", "calls": [{"type", "messageId", "userId"?, ...}]}; a call
with "userIdAsNumber" sends its userId as a Python int, as an app with numeric ids does.
Output (JSON on stdout): {"errors": [...]} as the library's on_error reported them, and
{"sent": [...]}, each request body as the library logged it. Everything else stays at the
library's defaults.
"""
import json
import logging
import sys

from segment import analytics

request = json.load(sys.stdin)
errors = []
sent = []


class RequestBodies(logging.Handler):
    """Keeps the body of each request, from the library's own debug line before it posts."""

    def emit(self, record):
        if record.msg == "making request: %s":
            sent.append(json.loads(record.args[0]))


segment_log = logging.getLogger("segment")
segment_log.setLevel(logging.DEBUG)
segment_log.addHandler(RequestBodies())
segment_log.propagate = False
analytics.write_key = request["writeKey"]
analytics.host = request["host"]
analytics.on_error = lambda error, batch: errors.append({"error": repr(error), "batch": [m.get("messageId") for m in batch]})

for call in request["calls"]:
    user_id = call.get("userId")
    if call.get("userIdAsNumber"):
        user_id = int(user_id)
    common = {"message_id": call["messageId"]}
    kind = call["type"]
    if kind == "alias":
        analytics.alias(previous_id=call["previousId"], user_id=user_id, **common)
        continue
    common.update(user_id=user_id, anonymous_id=call.get("anonymousId"))
    if kind == "track":
        analytics.track(event=call["event"], properties=call["properties"], **common)
    elif kind == "identify":
        analytics.identify(traits=call["traits"], **common)
    elif kind == "page":
        analytics.page(name=call["name"], properties=call["properties"], **common)
    elif kind == "screen":
        analytics.screen(name=call["name"], properties=call["properties"], **common)
    elif kind == "group":
        analytics.group(group_id=call["groupId"], traits=call["traits"], **common)
    else:
        raise SystemExit(f"unknown call type {kind!r}")

analytics.flush()
analytics.shutdown()
json.dump({"errors": errors, "sent": sent}, sys.stdout)
