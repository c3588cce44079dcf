// Package procmem reads this process's memory as Linux reports it, for the
// tests and benchmarks that measure what connections cost.
package procmem

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where /proc/self/status is not there.
var ErrUnsupported = errors.New("procmem: no /proc/self/status")

// Resident returns VmRSS, the resident memory, in bytes.
func Resident() (int64, error) { return field("VmRSS:") }

// Peak returns VmHWM, the most resident memory since the process started
// or since ResetPeak, in bytes.
func Peak() (int64, error) { return field("VmHWM:") }

// ResetPeak makes the peak the current resident memory (Linux's
// clear_refs 5).
func ResetPeak() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func field(name string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, ErrUnsupported
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("procmem: no " + name + " in /proc/self/status")
}
