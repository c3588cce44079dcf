//go:build !linux

package interop

import "github.com/pushwire/pushwire/conn"

// A wireCount is what a connection's socket sent and received; only Linux
// tells it (ok false elsewhere).
type wireCount struct {
	ok             bool
	sent, received uint64
}

func wireOf(*conn.Conn) wireCount { return wireCount{} }

func (w wireCount) since(wireCount) wireCount { return wireCount{} }
