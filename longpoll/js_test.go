package longpoll

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// The JavaScript client, as the handler serves it, run by Node against the
// Go server: messages both ways, closes both ways.
func TestJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed: .ci/run should have installed it")
		}
		t.Skip("node is not installed: the JavaScript client cannot be tested")
	}
	t.Cleanup(leaktest.Check(t))
	type result struct {
		Transport string `json:"transport"`
		Got       []any  `json:"got"`
		Code      int    `json:"code"`
		Reason    string `json:"reason"`
		WasClean  bool   `json:"wasClean"`
		State     int    `json:"state"`
		Error     string `json:"error"`
	}
	for _, row := range []struct {
		scenario string
		session  func(*Session) error // the server's side
		want     result
		wantErr  *conn.CloseError // what the server's ReadMessage ends with
	}{
		{
			scenario: "echo",
			session: func(s *Session) error {
				for {
					typ, msg, err := s.ReadMessage(bg, nil)
					if err != nil {
						return err
					}
					s.WriteMessage(bg, typ, msg)
				}
			},
			want:    result{Transport: "longpoll", Got: []any{"héllo", []any{0.0, 255.0, 7.0}, "len:60000"}, Code: 4000, Reason: "bye", WasClean: true, State: 3},
			wantErr: &conn.CloseError{Code: 4000, Reason: "bye"},
		},
		{
			scenario: "server-close",
			session: func(s *Session) error {
				s.WriteMessage(bg, conn.Text, []byte("last"))
				return s.Close(4001, "server leaves")
			},
			want: result{Transport: "longpoll", Got: []any{"last"}, Code: 4001, Reason: "server leaves", WasClean: true, State: 3},
		},
	} {
		t.Run(row.scenario, func(t *testing.T) {
			done := make(chan error, 1)
			_, srv := serve(t, &Options{MaxBody: 64 << 10}, func(s *Session) { done <- row.session(s) })
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "testdata/jsclient.js", srv.URL, row.scenario)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.Bytes())
			}
			var got result
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if diff := cmp.Diff(row.want, got); diff != "" {
				t.Errorf("JavaScript client (-want +got):\n%s", diff)
			}
			err = <-done
			if row.wantErr != nil {
				if diff := cmp.Diff(row.wantErr, err); diff != "" {
					t.Errorf("server (-want +got):\n%s", diff)
				}
			} else if err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}
