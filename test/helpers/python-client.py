"""Sends the calls read from stdin through one of the Python client libraries.

Input (JSON): {"library", "host", "writeKey", "calls": [{"type", "messageId", "userId"?, ...}]},
library being "segment" (segment-analytics-python, `segment.analytics`), "analytics-python"
(Segment's 1.x library, `analytics`) or "rudderstack" (rudder-sdk-python 2.x,
`rudderstack.analytics`); a call with "userIdAsNumber" sends its userId as a Python int, as an
app with numeric ids does.
Output (JSON on stdout): {"errors": [...]} as the library's on_error reported them, and
{"sent": [...]}, each request body as the library logged it before posting (a retried batch
is logged again). Everything else stays at the library's defaults.
"""
import json
import logging
import sys

request = json.load(sys.stdin)
library = request["library"]
if library == "segment":
    from segment import analytics

    logger_name = "segment"
elif library == "analytics-python":
    import analytics

    logger_name = "segment"
elif library == "rudderstack":
    import rudderstack.analytics as analytics

    logger_name = "rudderstack"
else:
    raise SystemExit(f"unknown library {library!r}")

errors = []
sent = []


class RequestBodies(logging.Handler):
    """Keeps the body of each request, from the library's own debug line before it posts."""

    def emit(self, record):
        if record.msg == "making request: %s":
            sent.append(json.loads(record.args[0]))


library_log = logging.getLogger(logger_name)
library_log.setLevel(logging.DEBUG)
library_log.addHandler(RequestBodies())
library_log.propagate = False
analytics.write_key = request["writeKey"]
if library == "rudderstack":
    # RudderStack's documented setting; its `host` is deprecated.
    analytics.dataPlaneUrl = request["host"]
else:
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
