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
	// empty block
	f.Add([]byte("\x00"), uint16(0))
	// hello
	f.Add([]byte("\xf2\x48\xcd\xc9\xc9\x07\x00"), uint16(5))
	// reserved btype
	f.Add([]byte("\x07"), uint16(100))
	// stored
	f.Add([]byte("\x00\x03\x00\xfc\xff\x61\x62\x63"), uint16(3))
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
	// text
	f.Add([]byte("\x68\x65\x6c\x6c\x6f\x20\x68\x65\x6c\x6c\x6f\x20\x68\x65\x6c\x6c\x6f"), uint8(7), bool(false))
	// window8 notakeover
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"), uint8(0), bool(true))
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
