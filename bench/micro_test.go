package bench

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/internal/utf8check"
	"github.com/pushwire/pushwire/mask"
)

// sliceWriter appends to a reused slice: the cheapest io.Writer for gobwas's
// header writer.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// BenchmarkHeader parses a masked client header and encodes it again; the
// sizes choose the three length encodings.
func BenchmarkHeader(b *testing.B) {
	for _, sz := range []size{size16B, size128B, size64KiB} {
		hdr := clientFrame(frame.OpBinary, 0, make([]byte, sz.n))
		hdr = hdr[:len(hdr)-sz.n]
		b.Run(sz.name+"/pushwire", func(b *testing.B) {
			out := make([]byte, 0, frame.MaxHeaderSize)
			b.SetBytes(int64(len(hdr)))
			b.ReportAllocs()
			for b.Loop() {
				h, _, err := frame.Parse(hdr)
				if err != nil {
					b.Fatal(err)
				}
				out = frame.AppendHeader(out[:0], h)
			}
			if !bytes.Equal(out, hdr) {
				b.Fatalf("re-encoded %x, want %x", out, hdr)
			}
		})
		b.Run(sz.name+"/gobwas", func(b *testing.B) {
			var rd bytes.Reader
			rbuf := make([]byte, ws.MaxHeaderSize)
			wbuf := make([]byte, ws.MaxHeaderSize)
			w := &sliceWriter{b: make([]byte, 0, ws.MaxHeaderSize)}
			b.SetBytes(int64(len(hdr)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(hdr)
				h, err := ws.ReadHeaderBuffer(&rd, rbuf)
				if err != nil {
					b.Fatal(err)
				}
				w.b = w.b[:0]
				if err := ws.WriteHeaderBuffer(w, h, wbuf); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(w.b, hdr) {
				b.Fatalf("re-encoded %x, want %x", w.b, hdr)
			}
		})
	}
}

// BenchmarkMask masks in place. gorilla, coder and gws export no masking
// function; copy is the memory bandwidth the masking cannot beat.
func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x01, 0x23, 0x45, 0x67}
	for _, sz := range []size{size16B, size128B, size1KiB, size32KiB, size1MiB} {
		orig := payload(sz.n)
		// Masked at key position 1 by hand: the oracle both libraries must match.
		want := bytes.Clone(orig)
		for i := range want {
			want[i] ^= key[(i+1)&3]
		}
		check := func(b *testing.B, xor func(p []byte, pos int)) {
			p := bytes.Clone(orig)
			xor(p, 1)
			if !bytes.Equal(p, want) {
				b.Fatal("masking differs from the byte-by-byte oracle")
			}
		}
		b.Run(sz.name+"/pushwire", func(b *testing.B) {
			xor := func(p []byte, pos int) { mask.XOR(p, key, pos) }
			check(b, xor)
			p := bytes.Clone(orig)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				mask.XOR(p, key, 0)
			}
		})
		b.Run(sz.name+"/gobwas", func(b *testing.B) {
			check(b, func(p []byte, pos int) { ws.Cipher(p, key, pos) })
			p := bytes.Clone(orig)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				ws.Cipher(p, key, 0)
			}
		})
		b.Run(sz.name+"/copy", func(b *testing.B) {
			p := bytes.Clone(orig)
			dst := make([]byte, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, p)
			}
			if !bytes.Equal(dst, p) {
				b.Fatal("copy differs")
			}
		})
	}
}

// BenchmarkUTF8 validates text with pushwire's validator, which WebSocket
// needs incrementally, against the standard library's one-shot check.
func BenchmarkUTF8(b *testing.B) {
	texts := []struct {
		name string
		gen  func(int) []byte
	}{{"ascii", func(n int) []byte { return bytes.Repeat([]byte("a"), n) }}, {"mixed", mixedText}}
	for _, t := range texts {
		for _, sz := range []size{size1KiB, size1MiB} {
			p := t.gen(sz.n)
			bad := append(bytes.Clone(p[:sz.n-1]), 0xff)
			for _, lib := range []struct {
				name  string
				valid func([]byte) bool
			}{{"pushwire", utf8check.Valid}, {"stdlib", utf8.Valid}} {
				b.Run(t.name+"-"+sz.name+"/"+lib.name, func(b *testing.B) {
					if !lib.valid(p) || lib.valid(bad) {
						b.Fatal("wrong verdict")
					}
					b.SetBytes(int64(sz.n))
					b.ReportAllocs()
					ok := true
					for b.Loop() {
						ok = lib.valid(p)
					}
					if !ok {
						b.Fatal("valid text rejected")
					}
				})
			}
		}
	}
}
