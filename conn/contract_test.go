package conn_test

import (
	"testing"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/conntest"
)

// conn.Conn keeps the MessageConn contract, as server and as client, over
// TCP.
func TestMessageConnContract(t *testing.T) {
	for _, serverFirst := range []bool{true, false} {
		name := "server-to-client"
		if !serverFirst {
			name = "client-to-server"
		}
		t.Run(name, func(t *testing.T) {
			conntest.Run(t, func(t *testing.T) (a, b conn.MessageConn, stop func()) {
				srv, cli := connPair(t, transports[1], nil, nil)
				if serverFirst {
					return srv, cli, func() {}
				}
				return cli, srv, func() {}
			})
		})
	}
}
