package mask

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
)

func naive(b []byte, key [4]byte, pos int) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

type impl struct {
	name string
	xor  func(b []byte, k uint32)
}

// withPos adapts an implementation to the signature of XOR.
func (m impl) withPos(b []byte, key [4]byte, pos int) int {
	m.xor(b, bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos))
	return (pos + len(b)) & 3
}

// allImpls is the dispatch XOR uses and every implementation this CPU can
// run.
func allImpls() []impl {
	return append([]impl{{"dispatch", xor}, {"generic", xorGeneric}}, asmImpls()...)
}

func randBytes(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// check masks backing[off:off+n] and compares all of backing, so that a
// write outside the slice fails too.
func check(t *testing.T, m impl, r *rand.Rand, backing []byte, off, n, pos int) {
	t.Helper()
	var key [4]byte
	randBytes(r, key[:])
	randBytes(r, backing)
	want := bytes.Clone(backing)
	wantNext := naive(want[off:off+n], key, pos)
	next := m.withPos(backing[off:off+n:off+n], key, pos)
	if next != wantNext {
		t.Fatalf("%s n=%d pos=%d off=%d: next %d, want %d", m.name, n, pos, off, next, wantNext)
	}
	if !bytes.Equal(backing, want) {
		i := 0
		for backing[i] == want[i] {
			i++
		}
		t.Fatalf("%s n=%d pos=%d off=%d: first difference at byte %d of the slice", m.name, n, pos, off, i-off)
	}
}

// Every length 0..300, key position and alignment up to a cache line.
func TestXORSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	backing := make([]byte, 64+300+64)
	for _, m := range allImpls() {
		for n := 0; n <= 300; n++ {
			for pos := range 4 {
				for off := range 64 {
					check(t, m, r, backing[:off+n+64], off, n, pos)
				}
			}
		}
	}
}

func TestXORLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	backing := make([]byte, 64+1<<17+64)
	for _, m := range allImpls() {
		for range 200 {
			n := r.IntN(1 << 17)
			off := r.IntN(64)
			check(t, m, r, backing[:off+n+64], off, n, r.IntN(4))
		}
	}
}

// Masking in pieces equals masking at once.
func TestXORPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	key := [4]byte{1, 2, 3, 4}
	for range 200 {
		b := make([]byte, r.IntN(5000))
		randBytes(r, b)
		want := bytes.Clone(b)
		naive(want, key, 0)
		pos := 0
		for rest := b; len(rest) > 0; {
			n := min(len(rest), r.IntN(300))
			pos = XOR(rest[:n], key, pos)
			rest = rest[n:]
		}
		if !bytes.Equal(b, want) || pos != len(b)&3 {
			t.Fatal("pieces differ from whole")
		}
	}
}

func TestXORAllocs(t *testing.T) {
	b := make([]byte, 4096)
	if n := testing.AllocsPerRun(100, func() { XOR(b, [4]byte{1, 2, 3, 4}, 1) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzXOR(f *testing.F) {
	f.Add([]byte("hello, world"), uint32(0x01020304), 0, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, k uint32, pos int, off uint8) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		pos &= 3
		// Start at a chosen offset so alignment varies independently.
		o := min(int(off)&63, len(b))
		for _, m := range allImpls() {
			want := bytes.Clone(b)
			wantNext := naive(want[o:], key, pos)
			got := bytes.Clone(b)
			if next := m.withPos(got[o:], key, pos); next != wantNext || !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the byte loop", m.name)
			}
		}
	})
}

var sizes = []int{16, 128, 1 << 10, 16 << 10, 32 << 10, 1 << 20}

func BenchmarkXOR(b *testing.B) {
	for _, m := range allImpls() {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%d", m.name, n), func(b *testing.B) {
				buf := make([]byte, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					m.xor(buf, 0x78563412)
				}
			})
		}
	}
}

// BenchmarkCopy is the bound to compare with: copy reads and writes as
// many bytes as XOR does.
func BenchmarkCopy(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, dst := make([]byte, n), make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
