package longpoll

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/handshake"
	"github.com/pushwire/pushwire/internal/leaktest"
)

func TestDialFallback(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	for _, row := range []struct {
		name string
		ws   http.HandlerFunc // what answers at /ws
		want string           // the transport DialFallback gets
	}{
		{"websocket works", func(w http.ResponseWriter, r *http.Request) {
			c, err := conn.Accept(w, r, nil)
			if err != nil {
				return
			}
			echo := func() error {
				typ, msg, err := c.ReadMessage(bg, nil)
				if err != nil {
					return err
				}
				return c.WriteMessage(bg, typ, msg)
			}
			if echo() == nil {
				c.Close(conn.CloseNormal, "")
			}
		}, "websocket"},
		{"upgrade stripped", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("not a websocket"))
		}, "longpoll"},
		{"upgrade refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusBadGateway)
		}, "longpoll"},
		{"upgrade held", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "longpoll"},
	} {
		t.Run(row.name, func(t *testing.T) {
			h := NewHandler(&Options{Hold: time.Second})
			go func() {
				for {
					s, err := h.Accept(bg)
					if err != nil {
						return
					}
					go echo(s)
				}
			}()
			mux := http.NewServeMux()
			mux.Handle("/lp/", h)
			mux.Handle("/ws", row.ws)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			defer h.Close()
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			defer cancel()
			c, err := DialFallback(ctx, "ws"+srv.URL[4:]+"/ws", srv.URL+"/lp", &FallbackOptions{UpgradeTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			got := "websocket"
			if _, ok := c.(*Client); ok {
				got = "longpoll"
			}
			if got != row.want {
				t.Fatalf("transport %s, want %s", got, row.want)
			}
			if err := c.WriteMessage(ctx, conn.Text, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.ReadMessage(ctx, nil); err != nil || string(msg) != "hi" {
				t.Fatalf("echo: %q %v", msg, err)
			}
			c.Close(conn.CloseNormal, "")
		})
	}
}

// TestDialFallbackBothFail: when neither transport opens, the error holds
// both causes.
func TestDialFallbackBothFail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := DialFallback(bg, "ws"+srv.URL[4:]+"/ws", srv.URL+"/lp", nil)
	if err == nil {
		t.Fatal("opened")
	}
	if !errors.Is(err, handshake.ErrStatus) || !strings.Contains(err.Error(), "long polling: ") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %q does not give both causes", err)
	}
}
