package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by `make build` with -ldflags "-X main.version=... -X main.commit=...
// -X main.date=...", from git describe: machines may build with
// GOFLAGS=-buildvcs=false, and then the build info has no VCS stamp.
var (
	version = ""
	commit  = ""
	date    = ""
)

// versionInfo is what `wirebot version` prints: the -ldflags stamp, else
// the module's build info (go install ...@v1.2.3) and its VCS stamp.
func versionInfo() (ver, rev, when, goVersion string) {
	ver, rev, when, goVersion = version, commit, date, runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				if when == "" {
					when = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && rev != "" && commit == "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "devel" // a plain `go build` outside make, with no VCS stamp
	}
	if rev == "" {
		rev = "unknown"
	}
	if when == "" {
		when = "unknown"
	}
	return ver, rev, when, goVersion
}

func versionLine() string {
	ver, rev, when, gov := versionInfo()
	return fmt.Sprintf("wirebot %s (commit %s, built %s, %s)", ver, rev, when, gov)
}
