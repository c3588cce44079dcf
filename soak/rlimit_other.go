//go:build !unix

package main

import "errors"

// raiseFileLimit is not available here: the soak needs a Unix file limit.
func raiseFileLimit() (uint64, error) {
	return 0, errors.New("raising the open file limit needs a Unix system")
}
