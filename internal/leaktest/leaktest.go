// Package leaktest fails a test that leaves goroutines behind.
package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines running now and returns a function that,
// called when the test ends, fails it if others are still running after a
// grace period.
//
//	defer leaktest.Check(t)()
func Check(t testing.TB) func() {
	before := map[string]bool{}
	for id := range goroutines() {
		before[id] = true
	}
	return func() {
		t.Helper()
		if t.Failed() {
			return
		}
		var left []string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			left = left[:0]
			for id, stack := range goroutines() {
				if !before[id] {
					left = append(left, stack)
				}
			}
			if len(left) == 0 {
				return
			}
		}
		t.Errorf("%d goroutines left behind:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// goroutines maps the id of each running goroutine to its stack, leaving out
// the test framework's and the runtime's own.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if ignored(g) {
			continue
		}
		id, _, _ := strings.Cut(g, " [")
		out[id] = g
	}
	return out
}

var framework = []string{
	"testing.(*T).Run(",
	"testing.(*F).Fuzz(",
	"testing.tRunner.func1",
	"testing.(*M).",
	"testing.runTests",
	"testing.runFuzzTests",
	"os/signal.signal_recv",
	"leaktest.goroutines",
}

func ignored(g string) bool {
	for _, s := range framework {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}
