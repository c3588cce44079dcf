package deflate_test

import (
	"bytes"
	"fmt"

	"github.com/pushwire/pushwire/deflate"
)

// A server's offer answered, then a message compressed by the server and
// inflated by the client under the agreement.
func Example() {
	// What the client offered, and the server's answer.
	offer := deflate.Params{ClientMaxWindowBits: 15, ClientMaxWindowBitsNoValue: true}
	cfg := &deflate.Config{ServerNoContextTakeover: true}
	answer, agreed, ok := cfg.Accept(offer)
	fmt.Println(ok, len(answer.Append(nil)) > 0)

	msg := bytes.Repeat([]byte("pushwire "), 100)
	z, err := deflate.NewCompressor(agreed, true, 0).Compress(nil, msg)
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := deflate.NewDecompressor(agreed, false).Decompress(nil, z, 1<<20)
	fmt.Println(len(msg), len(z) < len(msg)/10, bytes.Equal(back, msg), err)
	// Output:
	// true true
	// 900 true true <nil>
}
