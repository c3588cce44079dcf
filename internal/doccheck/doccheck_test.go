package doccheck_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushwire/pushwire/internal/doccheck"
)

// Every exported identifier of the module's packages has a doc comment.
func TestEveryExportedIdentifierDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own (bench, fuzz)
			}
		}
		missing, err := doccheck.Undocumented(path)
		if err != nil {
			return err
		}
		checked++
		for _, m := range missing {
			t.Errorf("no doc comment: %s", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d directories: the walk missed the module", checked)
	}
}

// The check finds what it should, and only that.
func TestUndocumented(t *testing.T) {
	dir := t.TempDir()
	src := `package p

// Documented is.
type Documented int

type Bare int

// The group's doc covers its members.
const (
	A = 1
	B = 2
)

var Loose = 3

func (Documented) Method() {}

func (unexported) Method() {}

type unexported int
`
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := doccheck.Undocumented(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"Bare": true, "Loose": true, "Method": true}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %v", got, want)
	}
	for _, g := range got {
		if !want[g[strings.LastIndex(g, " ")+1:]] {
			t.Errorf("flagged %q", g)
		}
	}
}
