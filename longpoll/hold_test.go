package longpoll

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushwire/pushwire/internal/leaktest"
)

// The open request's proposal: granted, clamped or refused, as the
// package doc says.
func TestOpenProposal(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	_, srv := serve(t, &Options{Hold: 8 * time.Second, Grace: 10 * time.Second}, func(s *Session) { s.expire(nil) })
	const past64 = "99999999999999999999999"
	for _, row := range []struct {
		query          string
		status         int
		hold, interval int64  // granted, ms
		err            string // in the 400's body
	}{
		{"", 200, 8000, 0, ""},
		{"hold=4000", 200, 4000, 0, ""},
		{"hold=1", 200, 1, 0, ""},
		{"hold=8000", 200, 8000, 0, ""},
		{"hold=8001", 200, 8000, 0, ""},
		{"hold=" + past64, 200, 8000, 0, ""},
		{"hold=0&interval=250", 200, 0, 250, ""},
		{"hold=0&interval=5000", 200, 0, 5000, ""},
		{"hold=0&interval=5001", 200, 0, 5000, ""}, // half the grace at most
		{"hold=0&interval=" + past64, 200, 0, 5000, ""},
		{"hold=-1", 400, 0, 0, "bad hold"},
		{"hold=abc", 400, 0, 0, "bad hold"},
		{"hold=", 400, 0, 0, "bad hold"},
		{"hold=1.5", 400, 0, 0, "bad hold"},
		{"hold=+5", 400, 0, 0, "bad hold"},
		{"hold=0", 400, 0, 0, "hold=0 needs an interval"},
		{"hold=0&interval=0", 400, 0, 0, "bad interval"},
		{"hold=0&interval=-100", 400, 0, 0, "bad interval"},
		{"hold=0&interval=x", 400, 0, 0, "bad interval"},
		{"interval=100", 400, 0, 0, "only with hold=0"},
		{"hold=100&interval=100", 400, 0, 0, "only with hold=0"},
	} {
		t.Run(row.query, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/open?"+row.query, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != row.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, row.status)
			}
			if row.status != http.StatusOK {
				if !strings.Contains(string(body), row.err) {
					t.Fatalf("body %q does not say %q", body, row.err)
				}
				return
			}
			var reply openReply
			if err := json.Unmarshal(body, &reply); err != nil {
				t.Fatal(err)
			}
			if reply.Hold != row.hold || reply.Interval != row.interval || reply.Grace != 10000 {
				t.Fatalf("granted %s, want hold %d interval %d", body, row.hold, row.interval)
			}
		})
	}
}
