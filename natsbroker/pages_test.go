//go:build unix

package natsbroker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// pageHost is the test's front door: /push/ goes to the balancer, /page is
// a page that subscribes with pushwire.js and tallies what it receives,
// and /report takes the pages' tallies.
type pageHost struct {
	lb      http.Handler
	mu      sync.Mutex
	reports map[string]pageReport
	changed chan struct{} // closed and renewed on each report
}

// pageReport is a page's tally, as it posts it every half second.
type pageReport struct {
	Subscribed int      `json:"subscribed"`
	Live       int      `json:"live"` // topics subscribed to at least once
	Received   int      `json:"received"`
	Dup        int      `json:"dup"`
	Done       bool     `json:"done"`
	Errors     []string `json:"errors"`
	// Got counts the messages of each topic; Opens the connections made,
	// State the current one's.
	Got   map[string]int `json:"got"`
	Opens int            `json:"opens"`
	State string         `json:"state"`
	// Offsets, every fourth report and once done: topic index -> the
	// offset of each message k, 0 for one not received.
	Offsets map[string][]uint64 `json:"offsets"`
}

func newPageHost(lb http.Handler) *pageHost {
	return &pageHost{lb: lb, reports: map[string]pageReport{}, changed: make(chan struct{})}
}

func (h *pageHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/page":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(pageHTML))
	case "/report":
		var rep pageReport
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		page := r.URL.Query().Get("page")
		if old := h.reports[page]; !old.Done {
			if rep.Offsets == nil {
				rep.Offsets = old.Offsets // the last the page sent
			}
			h.reports[page] = rep
			close(h.changed)
			h.changed = make(chan struct{})
		}
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		h.lb.ServeHTTP(w, r)
	}
}

// progress says what each page received so far.
func (h *pageHost) progress() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(h.reports)) {
		r := h.reports[name]
		fmt.Fprintf(&b, "[%s: %d, by topic %v, done %v, %d connections, now %q] ", name, r.Received, r.Got, r.Done, r.Opens, r.State)
	}
	return b.String()
}

// wait returns page's report once ok says it is the one wanted, or the
// last one when ctx ends.
func (h *pageHost) wait(ctx context.Context, page string, ok func(pageReport) bool) (pageReport, bool) {
	for {
		h.mu.Lock()
		rep, ch := h.reports[page], h.changed
		h.mu.Unlock()
		if ok(rep) {
			return rep, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return rep, false
		}
	}
}

// A page: pushwire.js through the balancer, with the transport of the
// query ("" is WebSocket, and long polling if that fails), on the topics of
// the query; it checks each message as the Go clients' tally does.
const pageHTML = `<!doctype html>
<meta charset="utf-8">
<title>pushwire cluster page</title>
<script src="/push/client.js"></script>
<script src="/push/pushwire.js"></script>
<script>
window.onerror = (msg) => {
  const page = new URLSearchParams(location.search).get("page");
  fetch("/report?page=" + encodeURIComponent(page), {method: "POST", body: JSON.stringify({errors: ["script: " + msg]})});
};
</script>
<script>
"use strict";
const q = new URLSearchParams(location.search);
const page = q.get("page"), per = Number(q.get("per"));
const topics = q.get("topics").split(",").map(Number);
const offsets = {}, last = {};
for (const i of topics) { offsets[i] = new Array(per).fill(0); last[i] = 0; }
const live = new Set(), got = {};
let subscribed = 0, received = 0, opens = 0, state = "", dup = 0, remaining = topics.length * per;
const errors = [];
pushwire.connect(q.get("push"), {
  topics: topics.map((i) => "room." + i),
  transport: q.get("transport") || "",
  onState(s) { state = s; if (s !== "connecting") opens++; },
  onEvent(e) {
    if (e.kind === "subscribed") { subscribed++; live.add(e.topic); return; }
    if (e.kind !== "publication") { errors.push(e.kind + " " + e.topic + " " + (e.reason || "")); return; }
    received++;
    const [i, k] = e.data.split(":").map(Number);
    if (e.topic !== "room." + i || !offsets[i] || !(k >= 0 && k < per)) { errors.push("bad " + e.data + " on " + e.topic); return; }
    const fresh = offsets[i][k] === 0;
    if (!fresh || e.offset <= last[i]) dup++;
    if (e.offset > last[i]) last[i] = e.offset;
    if (fresh) { offsets[i][k] = e.offset; remaining--; got[i] = (got[i] || 0) + 1; }
  },
});
// A tally every half second, with the offsets every two seconds and once
// done.
let reports = 0;
setInterval(() => {
  const done = remaining === 0;
  const withOffsets = done || ++reports % 4 === 0;
  fetch("/report?page=" + encodeURIComponent(page), {method: "POST", body: JSON.stringify(
    {subscribed, live: live.size, received, dup, done, errors, got, opens, state, offsets: withOffsets ? offsets : null})}).catch(() => {});
}, 500);
</script>
`

// browserPage is a Chromium process showing one page.
type browserPage struct {
	name, transport string
	topics          []int
}

// startPages opens three pages in Chromium, each in a headless process of
// its own, and waits for them to be subscribed; none if chromium is not
// installed, which the test says.
func startPages(t *testing.T, ctx context.Context, h *pageHost, front string, topics []string, perTopic int) []browserPage {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run should have installed it")
		}
		t.Log("chromium is not installed (apt-get install chromium): the Chromium pages' part is skipped")
		return nil
	}
	var pages []browserPage
	// The long-polling page roams: its requests go to each node in turn,
	// as the roaming Go clients' do.
	seeds := []int{1000, 1002, 1001} // the roaming page gets two topics
	for i, transport := range []string{"", "longpoll", ""} {
		push := "/push/"
		if transport == "longpoll" {
			push = "/roam/push/"
		}
		ks := pickTopics(seeds[i])
		var names []string
		for _, k := range ks {
			names = append(names, strconv.Itoa(k))
		}
		label := transport
		if label == "" {
			label = "websocket"
		}
		p := browserPage{name: fmt.Sprintf("page %d (%s)", i, label), transport: label, topics: ks}
		q := url.Values{"page": {p.name}, "per": {strconv.Itoa(perTopic)}, "topics": {strings.Join(names, ",")}, "transport": {transport}, "push": {push}}

		profile, err := os.MkdirTemp("", "chromium")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-quic", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
			"--remote-debugging-port=0", front+"/page?"+q.Encode())
		// Its own process group, so that its helper processes end with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			os.RemoveAll(profile)
		})
		pages = append(pages, p)
	}
	for _, p := range pages {
		rep, ok := h.wait(ctx, p.name, func(r pageReport) bool { return r.Live == len(p.topics) || len(r.Errors) > 0 })
		if !ok || len(rep.Errors) > 0 {
			t.Fatalf("%s: not subscribed: %+v", p.name, rep)
		}
	}
	return pages
}

// waitPages waits for the pages to have received everything and returns
// their tallies.
func waitPages(t *testing.T, ctx context.Context, h *pageHost, pages []browserPage, perTopic int) []*tally {
	t.Helper()
	var tallies []*tally
	for _, p := range pages {
		rep, ok := h.wait(ctx, p.name, func(r pageReport) bool { return r.Done || len(r.Errors) > 0 })
		tl := newTally(p.name, p.transport, p.topics, perTopic)
		tl.received, tl.dup, tl.subscribed = rep.Received, rep.Dup, rep.Subscribed
		for _, k := range p.topics {
			tl.offsets[k] = rep.Offsets[strconv.Itoa(k)]
		}
		switch {
		case len(rep.Errors) > 0:
			tl.err = fmt.Errorf("events: %q", rep.Errors)
		case !ok:
			tl.err = fmt.Errorf("received %d messages of %d (by topic %v) over %d connections, now %q: %v",
				rep.Received, len(p.topics)*perTopic, rep.Got, rep.Opens, rep.State, ctx.Err())
		}
		tallies = append(tallies, tl)
	}
	return tallies
}
