//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises RLIMIT_NOFILE to its hard limit, and returns it.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raising the open file limit to %d: %w", lim.Cur, err)
	}
	return lim.Cur, nil
}
