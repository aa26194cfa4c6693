//go:build linux

package memtrim

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropExecutablePages tells the kernel this process no longer needs the
// pages of its read-only file mappings (r-xp, r--p, r--s: its own
// executable, and bbolt's read-only map of data_file) that were never
// written. MADV_DONTNEED on such a mapping only unmaps clean page-cache
// pages: the next read faults them back in from the cache. A mapping holding any anonymous page (a
// position-independent build's relocated RELRO segment) and every
// writable one (the data segment) are left alone: there it would throw
// away what was written.
func dropExecutablePages() {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct{ start, end uintptr }
	var (
		cur  *mapping
		keep []mapping
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			if cur != nil && strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) != "0" {
				cur = nil // written to: not ours to drop
			}
			continue
		}
		if !strings.Contains(fields[0], "-") || strings.HasSuffix(fields[0], ":") {
			continue // another per-mapping field
		}
		// A new mapping: 00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/wirebot
		if cur != nil {
			keep = append(keep, *cur)
		}
		cur = nil
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") || (fields[1] != "r-xp" && fields[1] != "r--p" && fields[1] != "r--s") {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		cur = &mapping{uintptr(start), uintptr(end)}
	}
	if cur != nil {
		keep = append(keep, *cur)
	}
	if sc.Err() != nil {
		return // a partial read: do nothing rather than guess
	}
	for _, m := range keep {
		_ = madvise(m.start, m.end-m.start)
	}
}

func madvise(addr, n uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_MADVISE, addr, n, unix.MADV_DONTNEED)
	if e != 0 {
		return e
	}
	return nil
}
