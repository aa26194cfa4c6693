package handlers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Interp is how a script is started once its `#!` line is resolved: Path
// is executed with Argv, then the script's own path, then the run's
// arguments. It is exactly what `env` would have executed, found once at
// load instead of on every run.
type Interp struct {
	Path string
	Argv []string // argv[0] and the interpreter's options, as env gives them
}

// resolveShebang reads a script's `#!` line (without "#!"). For
// `#!/usr/bin/env NAME` and `#!/usr/bin/env -S NAME ARGS...` it finds NAME
// on path (the scripts' PATH; relative entries and names are taken from
// dir, the scripts' working directory) and returns how to run the
// interpreter directly. For any other `#!` it returns nil: the kernel
// starts those as cheaply as anything could. Forms env would treat
// specially (options, assignments, quoting, variables) return nil too, so
// env still runs them as before. An interpreter that cannot be found is an
// error.
func resolveShebang(line, path, dir string) (*Interp, error) {
	line = strings.TrimLeft(line, " \t")
	prog, arg, _ := strings.Cut(strings.TrimRight(line, " \t\r"), " ")
	if p, a, ok := strings.Cut(prog, "\t"); ok {
		prog, arg = p, a+" "+arg
	}
	arg = strings.Trim(arg, " \t")
	if prog == "" {
		return nil, fmt.Errorf("the #! line names no interpreter")
	}
	if filepath.Base(prog) != "env" {
		if _, err := os.Stat(prog); err != nil && filepath.IsAbs(prog) {
			return nil, fmt.Errorf("interpreter %s not found", prog)
		}
		return nil, nil
	}
	var words []string
	switch {
	case arg == "":
		return nil, nil
	case strings.HasPrefix(arg, "-S"):
		rest := strings.TrimPrefix(arg, "-S")
		if strings.ContainsAny(rest, `"'\$#`) {
			return nil, nil
		}
		words = strings.Fields(rest)
	case strings.ContainsAny(arg, " \t"):
		// Linux passes "NAME ARGS" to env as one word, which env then
		// fails to find: leave that failure as it was.
		return nil, nil
	default:
		words = []string{arg}
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "-") || strings.Contains(words[0], "=") {
		return nil, nil
	}
	exe, err := lookPath(words[0], path, dir)
	if err != nil {
		return nil, err
	}
	return &Interp{Path: exe, Argv: words}, nil
}

// lookPath finds name as execvp would with PATH=path, from dir.
func lookPath(name, path, dir string) (string, error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if strings.Contains(name, "/") {
		if isExecutable(abs(name)) {
			return abs(name), nil
		}
		return "", fmt.Errorf("interpreter %s not found", name)
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if p := abs(filepath.Join(d, name)); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("interpreter %q not found on the scripts' PATH (%s)", name, path)
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}
