"""An echo server on Python's websockets, the peer of interop's tests for
pushwire's client. It echoes every message with its type and bytes.

  python3 echo_server.py [--port N] [--deflate] [--server-max-window-bits N]
    [--client-max-window-bits N] [--server-no-context-takeover]
    [--client-no-context-takeover] [--subprotocols a,b]

With --deflate it accepts permessage-deflate, with the client's parameters
unless a flag imposes one. Of the subprotocols the client offers, it picks
the first in its own list. Each connection's query string says what to do:
  id=S        names the connection in the events below
  frag=N      echo in fragments of N bytes, with a ping between fragments
  close=C     close at once with code C and reason=R, instead of echoing

It prints one JSON object per line: {"event":"ready","port":N,"version":V}
once listening, then per connection "open" (protocol, extensions: the
Sec-WebSocket-Extensions it answered) and "close" (the code and reason
received, messages echoed, pings sent and pongs received). Any error, or a
connection that ends without a close frame, prints an "error" event and
exits with status 1.
"""

import argparse
import asyncio
import json
import os
import sys
import traceback
import urllib.parse

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def fail(conn_id, err):
    emit("error", id=conn_id, error=err)
    os._exit(1)


def fragments(data, frag):
    """Splits a message into fragments of frag bytes, or frag characters
    for text (websockets encodes each fragment itself)."""
    return [data[i : i + frag] for i in range(0, len(data), frag)] or [data]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--deflate", action="store_true")
    ap.add_argument("--server-max-window-bits", type=int)
    ap.add_argument("--client-max-window-bits", type=int)
    ap.add_argument("--server-no-context-takeover", action="store_true")
    ap.add_argument("--client-no-context-takeover", action="store_true")
    ap.add_argument("--subprotocols", default="")
    opt = ap.parse_args()

    extensions = []
    if opt.deflate:
        extensions.append(
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=opt.server_no_context_takeover,
                client_no_context_takeover=opt.client_no_context_takeover,
                server_max_window_bits=opt.server_max_window_bits,
                client_max_window_bits=opt.client_max_window_bits,
            )
        )
    supported = [p for p in opt.subprotocols.split(",") if p]

    def select(offered, _server):
        return next((p for p in supported if p in offered), None)

    async def handler(ws):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.path).query)
        conn_id = query.get("id", [""])[0]
        frag = int(query.get("frag", ["0"])[0])
        messages, pings = 0, []
        emit(
            "open",
            id=conn_id,
            protocol=ws.subprotocol or "",
            extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""),
        )
        try:
            if "close" in query:
                await ws.close(int(query["close"][0]), query.get("reason", [""])[0])
            else:
                while True:
                    try:
                        data = await ws.recv()
                    except websockets.ConnectionClosed:
                        break  # raised for every close, with codes other than 1000 and 1001 as an error
                    messages += 1
                    if frag <= 0:
                        await ws.send(data)
                        continue
                    parts = fragments(data, frag)

                    async def stream():
                        for i, part in enumerate(parts):
                            if i > 0:
                                pings.append(await ws.ping())
                            yield part

                    await ws.send(stream())
            await ws.wait_closed()
        except Exception:
            fail(conn_id, traceback.format_exc())
        if ws.close_code == 1006:
            fail(conn_id, "connection ended without a close frame")
        pongs = sum(1 for p in pings if p.done() and not p.cancelled() and p.exception() is None)
        emit(
            "close",
            id=conn_id,
            code=ws.close_code,
            reason=ws.close_reason,
            messages=messages,
            pings=len(pings),
            pongs=pongs,
        )

    server = await websockets.serve(
        handler,
        "127.0.0.1",
        opt.port,
        compression=None,
        extensions=extensions or None,
        subprotocols=supported or None,
        select_subprotocol=select,
        max_size=64 << 20,
        ping_interval=None,
    )
    port = server.sockets[0].getsockname()[1]
    emit("ready", port=port, version=websockets.__version__)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception:
        fail("", traceback.format_exc())
