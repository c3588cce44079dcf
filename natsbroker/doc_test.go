package natsbroker_test

import (
	"testing"

	"github.com/pushwire/pushwire/internal/doccheck"
)

// Every exported identifier has a doc comment, as in the root module
// (whose check skips modules of their own).
func TestDocumented(t *testing.T) {
	missing, err := doccheck.Undocumented(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("no doc comment: %s", m)
	}
}
