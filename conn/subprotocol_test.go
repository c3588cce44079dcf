package conn_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
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

// TestHandlerOnRefuse: Handler tells OnRefuse why it refused a request,
// where the client sees only 403.
func TestHandlerOnRefuse(t *testing.T) {
	got := make(chan error, 1)
	srv := httptest.NewServer(&conn.Handler{
		Serve:    func(c *conn.Conn, r *http.Request) { c.Close(conn.CloseNormal, "") },
		OnRefuse: func(r *http.Request, err error) { got <- err },
	})
	defer srv.Close()
	h := http.Header{"Origin": {"https://elsewhere.example"}}
	if _, err := conn.Dial(bg, "ws"+strings.TrimPrefix(srv.URL, "http"), &conn.DialOptions{Header: h}); err == nil {
		t.Fatal("a cross-origin request was accepted")
	}
	select {
	case err := <-got:
		if !errors.Is(err, handshake.ErrOrigin) {
			t.Fatalf("OnRefuse got %v, want ErrOrigin", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnRefuse not called")
	}
}
