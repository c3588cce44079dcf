//go:build !unix

package bench

import (
	"syscall"
	"time"
)

func raiseFileLimit() error { return nil }

// cpuTime is unknown here: the fan-out benchmark reports no CPU time.
func cpuTime() time.Duration { return 0 }

// smallWindow leaves the receive buffer as it is here.
func smallWindow(_, _ string, _ syscall.RawConn) error { return nil }
