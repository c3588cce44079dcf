package mask

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

func naive(b []byte, key [4]byte, pos int) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

// XOR agrees with a byte loop for every length, key position and alignment,
// and touches no byte outside its slice.
func TestXOR(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	r := rand.New(rand.NewPCG(1, 2))
	backing := make([]byte, 400+64+16)
	for n := 0; n <= 300; n++ {
		for pos := range 4 {
			for _, off := range []int{0, 1, 3, 7, 13, 63} {
				for i := range backing {
					backing[i] = byte(r.Uint32())
				}
				want := bytes.Clone(backing)
				naive(want[off:off+n], key, pos)
				got := bytes.Clone(backing)
				next := XOR(got[off:off+n], key, pos)
				if next != (pos+n)&3 {
					t.Fatalf("n=%d pos=%d: next %d", n, pos, next)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("n=%d pos=%d off=%d: mismatch", n, pos, off)
				}
			}
		}
	}
}

// Masking in pieces equals masking at once.
func TestXORPieces(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		b := make([]byte, r.IntN(5000))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := bytes.Clone(b)
		naive(want, key, 0)
		pos := 0
		for rest := b; len(rest) > 0; {
			n := min(len(rest), r.IntN(100))
			pos = XOR(rest[:n], key, pos)
			rest = rest[n:]
		}
		if !bytes.Equal(b, want) {
			t.Fatal("pieces differ from whole")
		}
	}
}

func FuzzXOR(f *testing.F) {
	f.Add([]byte("hello, world"), uint32(0x01020304), 0)
	f.Add(make([]byte, 100), uint32(0xdeadbeef), 3)
	f.Fuzz(func(t *testing.T, b []byte, k uint32, pos int) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		pos &= 3
		want := bytes.Clone(b)
		wantNext := naive(want, key, pos)
		if next := XOR(b, key, pos); next != wantNext || !bytes.Equal(b, want) {
			t.Fatalf("XOR differs from the byte loop")
		}
	})
}

func BenchmarkXOR(b *testing.B) {
	for _, n := range []int{16, 128, 1024, 32 << 10, 1 << 20} {
		buf := make([]byte, n)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				XOR(buf, [4]byte{1, 2, 3, 4}, 1)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
