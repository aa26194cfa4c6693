// Package memtrim gives memory back to the system when the bot has gone
// quiet: the Go heap's free pages, and the pages of the executable that
// only start-up touched.
package memtrim

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// Trim returns the heap's free memory to the system (forced GCs, then
// every free span) and drops this process's mappings of the executable's
// read-only pages, which stay in the page cache: those used again come
// back on their next touch as minor faults, those only start-up needed
// (package initialisers, descriptor tables) stop counting in RSS.
func Trim() {
	// Two collections: the first moves sync.Pools' contents (bbolt's
	// pages, our read buffers) to their victim caches, the second frees
	// them, so FreeOSMemory can return their spans.
	runtime.GC()
	debug.FreeOSMemory()
	dropExecutablePages()
}

// WhenQuiet calls trim once each time activity (a counter that grows with
// every message) has stood still for quiet, until ctx is done. It checks
// every quiet/4; a check is one atomic load.
func WhenQuiet(ctx context.Context, quiet time.Duration, activity func() int64, trim func()) {
	tick := time.NewTicker(quiet / 4)
	defer tick.Stop()
	last, since, trimmed := activity(), time.Now(), false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if a := activity(); a != last {
				last, since, trimmed = a, now, false
				continue
			}
			if !trimmed && now.Sub(since) >= quiet {
				trim()
				trimmed = true
			}
		}
	}
}
