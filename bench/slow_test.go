package bench

import "testing"

// BenchmarkSlowConsumer is BenchmarkFanout's pushwire row at 1,000
// subscribers, with none stalled and with one that never reads (its receive
// window shrunk to 4 KiB). The others' latency should not move: the stalled
// one's writer blocks alone, and pushwire's default policy (Disconnect)
// closes it once its queue (1,024 messages, 1 MiB) is full: slow-closed
// counts it (the run goes on, untimed, until it is), and heap-peak-MiB
// shows what the server held meanwhile, its queue included.
func BenchmarkSlowConsumer(b *testing.B) {
	if err := raiseFileLimit(); err != nil {
		b.Fatal(err)
	}
	for _, stalled := range []int{0, 1} {
		name := "none"
		if stalled > 0 {
			name = "stalled"
		}
		b.Run("1000/"+name, func(b *testing.B) { fanout(b, fanoutLibs[0], 1000, stalled) })
	}
}
