package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinarySizeAndMethodDeadCode: `make build`'s binary stays within
// issue 12's 20 MB, and nothing linked looks up methods by a computed name
// (reflect's MethodByName or Method(i)): one such call makes the linker keep
// every exported method of every type, 4.5 MB here (see
// third_party/expr/WIREBOT.md).
func TestBinarySizeAndMethodDeadCode(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "wirebot")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace", "-ldflags=-s -w -dumpdep", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%.2000s", err, out)
	}
	var marked []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "<ReflectMethod>") {
			marked = append(marked, line)
		}
	}
	if len(marked) > 0 {
		t.Errorf("reflect method lookups are reachable, so unused methods are kept:\n%s", strings.Join(marked, "\n"))
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary: %d bytes", fi.Size())
	if fi.Size() > 20_000_000 {
		t.Errorf("binary is %d bytes, over 20 MB", fi.Size())
	}
}
