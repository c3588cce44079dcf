"""A client on Python's websockets, the peer of interop's tests for
pushwire's server, which echoes. It reads cases from standard input, one
JSON object a line, and runs each on a connection of its own, in order:

  {"id": "x", "url": "ws://127.0.0.1:N/?id=x",
   "deflate": {"serverMaxWindowBits": 10, "clientMaxWindowBits": 9,
               "serverNoContextTakeover": true, "clientNoContextTakeover": true},
   "protocols": ["a", "b"],
   "messages": [{"type": "text", "size": 125, "kind": "random", "frag": 0}],
   "close": {"code": 4999, "reason": "bye"}}

deflate, absent or null, offers no permessage-deflate; each of its fields
is optional. Each message is sent, whole or in fragments of frag bytes with
a ping between fragments, and its echo must come back equal. Text is UTF-8
with characters of 1 to 4 bytes (kind "random") or words (kind "words",
which compress). After the messages the client closes with close, or
without close waits for the server to close. A case with "expectError":
"text" passes if it fails with an error that says text.

It prints one JSON object a line: {"event":"ready","version":V} first, then
per case {"event":"done","id","port" (the local one),"protocol",
"extensions" (the Sec-WebSocket-Extensions answered),"messages","pings",
"pongs","code","reason" (the close received)}, or {"event":"done","id",
"error"} for an error expected. A failed case prints
{"event":"error","id","error"} and the client exits with status 1.
"""

import asyncio
import json
import os
import random
import sys
import traceback

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

MULTIBYTE = "aé€𝄞 "
WORDS = ["push", "wire", "frame", "deflate", "window", "socket", "close", "ping",
         "message", "fragment", "server", "client", "über", "naïve", "π", "→"]


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def payload(typ, size, kind):
    """A message of exactly size bytes: str (valid UTF-8) for text."""
    if kind == "words":
        parts, n = [], 0
        while n < size:
            w = random.choice(WORDS) + " "
            parts.append(w)
            n += len(w.encode())
        b = pad("".join(parts).encode(), size)
    elif typ == "binary":
        return os.urandom(size)
    else:
        b = pad((MULTIBYTE * (size // len(MULTIBYTE.encode()) + 1)).encode(), size)
    return b.decode() if typ == "text" else b


def pad(b, size):
    """Cuts b to size bytes at a character boundary, then fills with 'a'."""
    n = min(size, len(b))
    while 0 < n < len(b) and b[n] & 0xC0 == 0x80:
        n -= 1
    return b[:n] + b"a" * (size - n)


def fragments(data, frag):
    """Splits a message into fragments of frag bytes, or frag characters
    for text (websockets encodes each fragment itself)."""
    return [data[i : i + frag] for i in range(0, len(data), frag)] or [data]


def deflate_factory(d):
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=bool(d.get("serverNoContextTakeover")),
        client_no_context_takeover=bool(d.get("clientNoContextTakeover")),
        server_max_window_bits=d.get("serverMaxWindowBits"),
        client_max_window_bits=d.get("clientMaxWindowBits") or True,
    )


async def run(c):
    d = c.get("deflate")
    res = {"id": c["id"], "messages": 0}
    pings = []
    async with websockets.connect(
        c["url"],
        compression=None,
        # None, not []: websockets 10.4 sends an empty Sec-WebSocket-Extensions
        # for [], which pushwire refuses (RFC 6455 section 9.1 wants one or more).
        extensions=[deflate_factory(d)] if d is not None else None,
        subprotocols=c.get("protocols") or None,
        max_size=64 << 20,
        ping_interval=None,
    ) as ws:
        res["port"] = ws.local_address[1]
        res["protocol"] = ws.subprotocol or ""
        res["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        for m in c.get("messages") or []:
            sent = payload(m["type"], m["size"], m.get("kind", "random"))
            frag = m.get("frag", 0)
            if frag <= 0:
                await ws.send(sent)
            else:
                parts = fragments(sent, frag)

                async def stream():
                    for i, part in enumerate(parts):
                        if i > 0:
                            pings.append(await ws.ping())
                        yield part

                await ws.send(stream())
            got = await ws.recv()
            if type(got) is not type(sent):
                raise AssertionError(f"echo of a {m['type']} message came back {type(got).__name__}")
            if got != sent:
                raise AssertionError(f"echo of {len(sent)} bytes differs: got {len(got)}")
            res["messages"] += 1
        if c.get("close"):
            await ws.close(c["close"]["code"], c["close"].get("reason", ""))
        else:
            try:
                await ws.recv()
                raise AssertionError("unexpected message")
            except websockets.ConnectionClosed:
                pass  # raised for every close, with codes other than 1000 and 1001 as an error
        await ws.wait_closed()
        if ws.close_code == 1006:
            raise AssertionError("connection ended without a close frame")
        res["code"], res["reason"] = ws.close_code, ws.close_reason
    res["pings"] = len(pings)
    res["pongs"] = sum(1 for p in pings if p.done() and not p.cancelled() and p.exception() is None)
    return res


async def main():
    emit("ready", version=websockets.__version__)
    for line in sys.stdin.read().splitlines():
        if not line.strip():
            continue
        c = json.loads(line)
        try:
            emit("done", **await run(c))
        except Exception as err:
            if c.get("expectError") and c["expectError"] in str(err):
                emit("done", id=c["id"], error=str(err))
                continue
            emit("error", id=c.get("id", ""), error=traceback.format_exc())
            os._exit(1)


if __name__ == "__main__":
    asyncio.run(main())
