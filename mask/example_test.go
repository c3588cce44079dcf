package mask_test

import (
	"fmt"

	"github.com/pushwire/pushwire/mask"
)

func ExampleXOR() {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d} // the masking key of RFC 6455 section 5.7
	payload := []byte("Hello")

	// Mask in two pieces, carrying the key position from one to the next.
	pos := mask.XOR(payload[:2], key, 0)
	mask.XOR(payload[2:], key, pos)
	fmt.Printf("% x\n", payload)

	// Masking again unmasks.
	mask.XOR(payload, key, 0)
	fmt.Printf("%s\n", payload)
	// Output:
	// 7f 9f 4d 51 58
	// Hello
}
