package conn

import "time"

// SetCompressorIdle sets how long a compressor stays unused before it is
// released, and returns the function that restores the default.
func SetCompressorIdle(d time.Duration) (restore func()) {
	old := compressorIdle
	compressorIdle = d
	return func() { compressorIdle = old }
}
