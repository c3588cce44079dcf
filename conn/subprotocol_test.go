package conn_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/conn"
)

func TestSubprotocol(t *testing.T) {
	tests := []struct {
		name          string
		server, offer []string
		want          string
	}{
		{"agreed", []string{"pushwire.v1", "chat"}, []string{"chat", "pushwire.v1"}, "pushwire.v1"},
		{"none offered", []string{"pushwire.v1"}, nil, ""},
		{"none in common", []string{"pushwire.v1"}, []string{"chat"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := conn.Accept(w, r, &conn.AcceptOptions{Subprotocols: tt.server})
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- c.Subprotocol()
				c.Close(conn.CloseNormal, "")
			}))
			defer srv.Close()
			c, err := conn.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"),
				&conn.DialOptions{Subprotocols: tt.offer})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(conn.CloseNormal, "")
			if s := <-got; s != tt.want {
				t.Errorf("server's Subprotocol() = %q, want %q", s, tt.want)
			}
			if s := c.Subprotocol(); s != tt.want {
				t.Errorf("client's Subprotocol() = %q, want %q", s, tt.want)
			}
		})
	}
}
