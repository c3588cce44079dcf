package deflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
)

func message(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	words := []string{"alpha", "beta", "gamma", "\"id\":", "{\"name\":", "12345", "κόσμε", " "}
	for i := 0; i < n; {
		if r.IntN(8) == 0 {
			b[i] = byte(r.Uint32())
			i++
			continue
		}
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// Messages survive compression and decompression in every mode, for many
// messages in a row on one pair.
func TestRoundTrip(t *testing.T) {
	for bits := 8; bits <= 15; bits++ {
		for _, noTakeover := range []bool{false, true} {
			for _, server := range []bool{false, true} {
				name := fmt.Sprintf("bits=%d/notakeover=%v/server=%v", bits, noTakeover, server)
				t.Run(name, func(t *testing.T) {
					a := Agreement{ServerMaxWindowBits: bits, ClientMaxWindowBits: bits,
						ServerNoContextTakeover: noTakeover, ClientNoContextTakeover: noTakeover}
					comp := NewCompressor(a, server, 0)
					decomp := NewDecompressor(a, !server)
					r := rand.New(rand.NewPCG(uint64(bits), 7))
					var z, out []byte
					for i := range 12 {
						msg := message(r, []int{0, 1, 100, 5000, 70000}[i%5]+r.IntN(100))
						var err error
						if z, err = comp.Compress(z[:0], msg); err != nil {
							t.Fatal(err)
						}
						if out, err = decomp.Decompress(out[:0], z, 1<<20); err != nil {
							t.Fatalf("message %d: %v", i, err)
						}
						if !bytes.Equal(out, msg) {
							t.Fatalf("message %d: round trip differs", i)
						}
					}
				})
			}
		}
	}
}

// The streaming writer and reader agree with the message-level codec.
func TestStreams(t *testing.T) {
	a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	r := rand.New(rand.NewPCG(1, 2))
	comp := NewCompressor(a, true, 0)
	decomp := NewDecompressor(a, false)
	for i := range 20 {
		msg := message(r, r.IntN(100000))
		var z bytes.Buffer
		w := comp.Writer(&z)
		for p := msg; len(p) > 0; {
			n := min(len(p), 1+r.IntN(5000))
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var got []byte
		var err error
		if i%2 == 0 {
			got, err = io.ReadAll(decomp.Reader(&z, 1<<20))
		} else {
			got, err = decomp.Decompress(nil, z.Bytes(), 1<<20)
		}
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %v, equal %v", i, err, bytes.Equal(got, msg))
		}
	}
}

// An empty message inflates from the empty block a compressor emits, and
// from nothing at all, which some peers send; whole or streamed.
func TestEmptyMessage(t *testing.T) {
	a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	z, err := NewCompressor(a, true, 0).Compress(nil, nil)
	if err != nil || !bytes.Equal(z, []byte{0}) {
		t.Fatalf("empty message compresses to %x, %v; want 00", z, err)
	}
	for _, in := range [][]byte{{0}, nil} {
		out, err := NewDecompressor(a, false).Decompress(nil, in, 10)
		if err != nil || len(out) != 0 {
			t.Fatalf("%x inflates to %q, %v", in, out, err)
		}
		out, err = io.ReadAll(NewDecompressor(a, false).Reader(bytes.NewReader(in), 10))
		if err != nil || len(out) != 0 {
			t.Fatalf("%x streamed inflates to %q, %v", in, out, err)
		}
	}
}

// A bomb fails at the limit, having allocated little more than the limit.
func TestBomb(t *testing.T) {
	a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	zeros := make([]byte, 32<<20)
	z, err := NewCompressor(a, true, 1).Compress(nil, zeros)
	if err != nil {
		t.Fatal(err)
	}
	zeros = nil
	runtime.GC()
	const limit = 1 << 20
	d := NewDecompressor(a, false)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = d.Decompress(nil, z, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d compressed bytes: %v, want ErrTooLarge", len(z), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*limit {
		t.Fatalf("allocated %d bytes for a limit of %d", alloc, limit)
	}
	// The same through the stream reader.
	n, err := io.Copy(io.Discard, d.Reader(bytes.NewReader(z), limit))
	if !errors.Is(err, ErrTooLarge) || n > limit {
		t.Fatalf("stream: %d bytes, %v", n, err)
	}
}

// Data that is no deflate stream fails with ErrCorrupt, whole or streamed;
// a source that fails mid-stream fails the reader with its own error, which
// is no fault of the data.
func TestCorrupt(t *testing.T) {
	a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	for _, in := range [][]byte{{0xff, 0xff, 0xff}, {0x07}, {0x02, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := NewDecompressor(a, false).Decompress(nil, in, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%x: %v, want ErrCorrupt", in, err)
		}
		if _, err := io.ReadAll(NewDecompressor(a, false).Reader(bytes.NewReader(in), 1<<20)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%x streamed: %v, want ErrCorrupt", in, err)
		}
	}
	z, err := NewCompressor(a, true, 0).Compress(nil, bytes.Repeat([]byte("hello "), 100))
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("connection broken")
	src := io.MultiReader(bytes.NewReader(z[:len(z)/2]), iotest.ErrReader(broken))
	_, err = io.ReadAll(NewDecompressor(a, false).Reader(src, 1<<20))
	if !errors.Is(err, broken) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("source failing mid-stream: %v, want its error alone", err)
	}
}

func FuzzDecompress(f *testing.F) {
	a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	z, _ := NewCompressor(a, true, 0).Compress(nil, []byte("hello hello hello hello"))
	f.Add(z, uint16(100))
	f.Add([]byte{0}, uint16(0))
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint16(5))
	f.Fuzz(func(t *testing.T, in []byte, limit uint16) {
		out, err := NewDecompressor(a, false).Decompress(nil, in, int64(limit))
		if err == nil && len(out) > int(limit) {
			t.Fatalf("%d bytes out past limit %d", len(out), limit)
		}
		if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint8(15), false)
	f.Add([]byte{}, uint8(8), true)
	f.Fuzz(func(t *testing.T, msg []byte, bits uint8, noTakeover bool) {
		b := 8 + int(bits%8)
		a := Agreement{ServerMaxWindowBits: b, ClientMaxWindowBits: b, ServerNoContextTakeover: noTakeover, ClientNoContextTakeover: noTakeover}
		comp, decomp := NewCompressor(a, false, 0), NewDecompressor(a, true)
		for range 2 {
			z, err := comp.Compress(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			out, err := decomp.Decompress(nil, z, int64(len(msg)))
			if err != nil || !bytes.Equal(out, msg) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		msg := message(rand.New(rand.NewPCG(1, 1)), n)
		a := Agreement{ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
		comp := NewCompressor(a, true, 0)
		z, _ := comp.Compress(nil, msg)
		decomp := NewDecompressor(a, false)
		out := make([]byte, 0, n)
		b.Run(fmt.Sprintf("compress/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				z, _ = comp.Compress(z[:0], msg)
			}
		})
		z, _ = NewCompressor(Agreement{ServerNoContextTakeover: true, ServerMaxWindowBits: 15}, true, 0).Compress(nil, msg)
		b.Run(fmt.Sprintf("decompress/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out, _ = decomp.Decompress(out[:0], z, 1<<20)
			}
		})
	}
}
