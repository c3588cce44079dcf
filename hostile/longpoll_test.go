package hostile

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/longpoll"
)

// lpServer serves a long-polling handler whose sessions nobody reads.
func lpServer(t testing.TB, opts *longpoll.Options) (*httptest.Server, func()) {
	h := longpoll.NewHandler(opts)
	srv := httptest.NewServer(h)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if _, err := h.Accept(bg); err != nil {
				return
			}
		}
	})
	return srv, func() { h.Close(); srv.Close(); wg.Wait() }
}

// lpOpen opens a session and returns its id.
func lpOpen(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/open", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || reply.ID == "" {
		t.Fatalf("open: %s %v", resp.Status, err)
	}
	return reply.ID
}

// emptyRecords is a send batch of n empty binary records numbered from 1:
// two bytes a record, the cheapest thing to send.
func emptyRecords(n int) []byte {
	b := []byte{1} // the first record's sequence number
	for range n {
		b = append(b, 2, 0)
	}
	return b
}

func lpSend(t testing.TB, base, id string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(base+"/send?ack=0&id="+id, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// A send of half a million empty records is decoded only as far as the
// session's queue has room: the rest is not taken, and the answer's ack
// says how far the server got, as for a full queue.
func TestLongPollBatchAmplification(t *testing.T) {
	defer leaktest.Check(t)()
	srv, stop := lpServer(t, nil)
	defer stop()
	id := lpOpen(t, srv.URL)
	body := emptyRecords((1<<20 - 1) / 2)
	var resp *http.Response
	start := time.Now()
	n := allocated(func() { resp = lpSend(t, srv.URL, id, body) })
	t.Logf("1 MiB of %d empty records: %s, ack %s, %d KiB allocated in %v",
		len(body)/2, resp.Status, resp.Header.Get("Pushwire-Ack"), n>>10, time.Since(start))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %s, want 204", resp.Status)
	}
	if got := resp.Header.Get("Pushwire-Ack"); got != strconv.Itoa(longpoll.DefaultMaxQueue) {
		t.Errorf("ack %s, want %d: the queue's room", got, longpoll.DefaultMaxQueue)
	}
	// The body itself is read whole (1 MiB, the limit), and what the test's
	// own client allocates counts too.
	if n > raceScale*4<<20 {
		t.Errorf("allocated %d KiB, want under %d MiB", n>>10, raceScale*4)
	}
}

// Every long-poll answer with a body says nosniff: the JavaScript client,
// the open reply, a batch, an error text.
func TestLongPollNoSniff(t *testing.T) {
	defer leaktest.Check(t)()
	srv, stop := lpServer(t, nil)
	defer stop()
	id := lpOpen(t, srv.URL)
	rows := []struct {
		name, method, path string
		body               []byte
	}{
		{"client.js", http.MethodGet, "/client.js", nil},
		{"open", http.MethodPost, "/open", nil},
		{"poll", http.MethodGet, "/poll?ack=0&id=" + id, nil},
		{"malformed send", http.MethodPost, "/send?ack=0&id=" + id, []byte{0}},
		{"unknown session", http.MethodGet, "/poll?ack=0&id=00", nil},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			req, _ := http.NewRequest(r.method, srv.URL+r.path, bytes.NewReader(r.body))
			if r.name == "poll" {
				// Answered at once, empty, by a second poll.
				go func() {
					time.Sleep(50 * time.Millisecond)
					resp, err := http.Get(srv.URL + r.path)
					if err == nil {
						resp.Body.Close()
					}
				}()
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s: X-Content-Type-Options %q, want nosniff", resp.Status, got)
			}
		})
	}
}

// Eight such sends at once, in the process under test alone: its resident
// memory grows by under 32 MiB at its peak.
func TestLongPollBatchMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ch := startChild(t, viaLongPoll, false)
	base := "http://" + ch.expect("addr")
	body := emptyRecords((1<<20 - 1) / 2)
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = lpOpen(t, base)
	}
	before := ch.rss()
	ch.peak() // from here
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if resp := lpSend(t, base, id, body); resp.StatusCode != http.StatusNoContent {
				t.Errorf("send: %s", resp.Status)
			}
		})
	}
	wg.Wait()
	peak := ch.peak()
	t.Logf("RSS %d MiB, peak %d MiB during eight 1 MiB sends of empty records", before>>20, peak>>20)
	if grew := peak - before; grew > raceScale*32<<20 {
		t.Errorf("RSS grew by %d MiB at its peak, want under %d", grew>>20, raceScale*32)
	}
}

// A server whose poll answer never ends: the client reads no more than an
// answer can hold and fails the session with 1009.
func TestLongPollEndlessAnswer(t *testing.T) {
	defer leaktest.Check(t)()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "open":
			w.Write([]byte(`{"id":"ab","hold":20000,"grace":30000,"maxBody":1048576}`))
		case "poll":
			chunk := make([]byte, 64<<10)
			for range 1 << 12 { // 256 MiB unless the client hangs up
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c, err := longpoll.Dial(bg, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	n := allocated(func() { _, _, readErr = c.ReadMessage(bg, nil) })
	t.Logf("%v; %d KiB allocated", readErr, n>>10)
	closeError(t, readErr, conn.CloseTooBig, true, nil)
	if n > 32<<20 {
		t.Errorf("allocated %d MiB reading an endless answer", n>>20)
	}
	c.Close(conn.CloseNormal, "")
}
