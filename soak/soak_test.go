package main

import (
	"testing"
	"time"
)

// A short soak: every message comes back intact, every connection closes
// cleanly.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak is not short")
	}
	conns := 500
	if raceEnabled {
		// The race detector slows each connection several times over: 500
		// take 7 s alone on two cores, but load the machine enough to make
		// the timing tests of the packages make test runs beside this one
		// late.
		conns = 200
	}
	if _, err := raiseFileLimit(); err != nil {
		t.Fatal(err)
	}
	for _, coalesce := range []bool{false, true} {
		r := run(config{conns: conns, duration: 5 * time.Second, drain: 20 * time.Second, coalesce: coalesce})
		t.Logf("\n%s", r)
		if !r.ok() {
			t.Fatalf("soak failed (server coalescing %v)", coalesce)
		}
	}
}
