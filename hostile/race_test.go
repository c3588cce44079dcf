//go:build race

package hostile

// raceScale widens the memory bounds of tests that run under the race
// detector, whose shadow memory and bookkeeping grow with what the code
// allocates: the bounds themselves are for ordinary builds.
const raceScale = 4
