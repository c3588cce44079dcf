// Package interop holds no code: its tests run pushwire's client and server
// against real peers, Node's ws and Python's websockets, over loopback TCP:
// echoes of every size class, text and binary, whole and streamed with pings
// between fragments; close codes and reasons both ways; permessage-deflate
// under every window size and context-takeover setting each peer can use;
// and subprotocols. The peers are the scripts in testdata, which exit with
// an error on anything unexpected.
//
// Node's ws is installed from testdata/package.json into testdata/node_modules
// (.ci/run does it first; a test does it if it is missing), Python's
// websockets is Debian's python3-websockets, run by /usr/bin/python3. A test
// skips a peer it cannot run, or fails when CI is set.
package interop
