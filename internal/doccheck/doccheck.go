// Package doccheck finds the exported identifiers of a package that have no
// doc comment, for the test that keeps every one documented.
package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
)

// Undocumented returns "file: name" for each exported identifier of the
// non-main package in dir, tests aside, that has no doc comment. A
// constant or variable is documented by its own comment or by its group's;
// a method counts only on an exported type.
func Undocumented(dir string) ([]string, error) {
	fset := token.NewFileSet()
	notTest := func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }
	pkgs, err := parser.ParseDir(fset, dir, notTest, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, p := range pkgs {
		if name == "main" {
			continue
		}
		for file, f := range p.Files {
			for _, d := range f.Decls {
				for _, id := range undocumented(d) {
					out = append(out, file+": "+id)
				}
			}
		}
	}
	return out, nil
}

func undocumented(d ast.Decl) []string {
	var out []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Name.IsExported() && d.Doc == nil && onExported(d.Recv) {
			out = append(out, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
					out = append(out, s.Name.Name)
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

// onExported reports whether a function is no method or one of an exported
// type.
func onExported(recv *ast.FieldList) bool {
	if recv == nil || len(recv.List) == 0 {
		return true
	}
	t := recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if g, ok := t.(*ast.IndexExpr); ok {
		t = g.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}
