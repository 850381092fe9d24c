"""Sends the calls read from stdin through Segment's Python library (`segment.analytics`).

Input (JSON): {"host", "writeKey", "calls": [{"type", "messageId", "userId"?, ...}]}; a call
with "userIdAsNumber" sends its userId as a Python int, as an app with numeric ids does.
Output (JSON on stdout): {"errors": [...]} as the library's on_error reported them.
Everything else stays at the library's defaults.
"""
import json
import sys

from segment import analytics

request = json.load(sys.stdin)
errors = []
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
json.dump({"errors": errors}, sys.stdout)
