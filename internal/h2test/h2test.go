// Package h2test runs tests that need WebSocket over HTTP/2 (RFC 8441)
// served by net/http, which offers extended CONNECT only to a process
// started with GODEBUG=http2xconnect=1: it reads the setting once, at init.
package h2test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// On reports whether this process has extended CONNECT on.
func On() bool { return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") }

// Run reports whether the calling top-level test is to run in this process:
// whether extended CONNECT is on, or off, as on asks. If not, it runs the
// test in a child process (this test binary) that has it so, and fails if
// the test fails there.
func Run(t *testing.T, on bool) bool {
	t.Helper()
	if On() == on {
		return true
	}
	godebug := "GODEBUG=http2xconnect=0"
	if on {
		godebug = "GODEBUG=http2xconnect=1"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), godebug)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("in a child process with %s: %v\n%s", godebug, err, out)
	}
	return false
}
