//go:build !unix

package bench

import "time"

func raiseFileLimit() error { return nil }

// cpuTime is unknown here: the fan-out benchmark reports no CPU time.
func cpuTime() time.Duration { return 0 }
