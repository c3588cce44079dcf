package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseExtensions(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string) {
		exts, err := ParseExtensions([]string{a, b})
		if err != nil {
			return
		}
		if err := checkExtensions(exts); err != nil {
			t.Fatalf("parsed %+v, which cannot be written: %v", exts, err)
		}
		enc := AppendExtensions(nil, exts)
		back, err := ParseExtensions([]string{string(enc)})
		if err != nil || !reflect.DeepEqual(back, exts) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", []string{a, b}, exts, enc, back, err)
		}
	})
}

func FuzzParseProtocols(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string) {
		ps, err := ParseProtocols([]string{a, b})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !isToken(p) {
				t.Fatalf("%q is not a token", p)
			}
		}
		back, err := ParseProtocols([]string{strings.Join(ps, ", ")})
		if err != nil || !reflect.DeepEqual(back, ps) {
			t.Fatalf("%q -> %q -> %q, %v", []string{a, b}, ps, back, err)
		}
	})
}

// chunks reads its data a few bytes at a time, counting them.
type chunks struct {
	data []byte
	step int
	read int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	c.read += n
	return n, nil
}

// FuzzReadRequest checks the raw request parser reads no more than its
// bound, keeps what follows the head, and accepts nothing net/http would
// refuse or read differently.
func FuzzReadRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, step uint8, limit uint16) {
		lim := 64 + int(limit)%4096
		in := &chunks{data: data, step: 1 + int(step)%64}
		r, rest, err := readRequest(in, lim)
		if in.read > lim {
			t.Fatalf("read %d bytes, bound %d", in.read, lim)
		}
		var herr *Error
		if err != nil {
			if errors.As(err, &herr) && herr.Status != 400 && herr.Status != 431 {
				t.Fatalf("status %d", herr.Status)
			}
			return
		}
		head := data[:in.read-len(rest)]
		if bytes.Index(head, []byte("\r\n\r\n")) != len(head)-4 || !bytes.Equal(rest, data[len(head):in.read]) {
			t.Fatalf("head %q and rest %q split %q wrongly", head, rest, data)
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("we accept what net/http refuses (%v): %q", err, head)
		}
		want.Header.Del("Host")
		if r.Method != want.Method || r.RequestURI != want.RequestURI || r.Proto != want.Proto || r.Host != want.Host ||
			!reflect.DeepEqual(r.Header, want.Header) || r.URL.String() != want.URL.String() {
			t.Fatalf("read\n%+v\nnet/http read\n%+v", r, want)
		}
	})
}

// FuzzReadResponse checks the client accepts only a 101 that agrees with
// what it offered, and keeps what follows the head.
func FuzzReadResponse(f *testing.F) {
	opts := &DialOptions{
		Subprotocols:   []string{"chat"},
		Extensions:     []Extension{{Name: "permessage-deflate"}},
		MaxHeaderBytes: 1024,
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		in := &chunks{data: data, step: 1 + int(step)%64}
		res, err := readResponse(in, sampleKey, opts)
		if in.read > opts.MaxHeaderBytes {
			t.Fatalf("read %d bytes, bound %d", in.read, opts.MaxHeaderBytes)
		}
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, []byte("HTTP/1.")) || !bytes.HasSuffix(data[:in.read], res.Buffered) || !bytes.Contains(data, []byte(sampleAccept)) {
			t.Fatalf("accepted %q", data)
		}
		if res.Subprotocol != "" && res.Subprotocol != "chat" {
			t.Fatalf("subprotocol %q", res.Subprotocol)
		}
		for _, e := range res.Extensions {
			if e.Name != "permessage-deflate" {
				t.Fatalf("extension %q", e.Name)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:in.read-len(res.Buffered)])), nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("net/http reads %v, %v", resp, err)
		}
	})
}
