package main

import (
	bin "encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// boltMetaFreelist reads the freelist page id and page size from the
// newer of a bbolt file's two meta pages.
func boltMetaFreelist(t *testing.T, data []byte) (freelist uint64, pageSize int) {
	t.Helper()
	// A page starts with a 16 byte header; a meta page then holds magic,
	// version, page size, flags (4 bytes each), the root bucket (16), the
	// freelist page id, the high water mark and the txid (8 each).
	pageSize = int(bin.LittleEndian.Uint32(data[16+8:]))
	best := uint64(0)
	for i := range 2 {
		m := data[i*pageSize+16:]
		if bin.LittleEndian.Uint32(m) != 0xED0CDAED {
			t.Fatalf("meta page %d has no bbolt magic", i)
		}
		if txid := bin.LittleEndian.Uint64(m[48:]); txid >= best {
			best = txid
			freelist = bin.LittleEndian.Uint64(m[32:])
		}
	}
	return freelist, pageSize
}

// corruptWirebotDB makes a bbolt file by running the bot, then spoils it.
func corruptWirebotDB(t *testing.T, dir string, spoil func(data []byte, freelist uint64, pageSize int)) string {
	t.Helper()
	var in strings.Builder
	for i := range 40 {
		in.WriteString("remember fact number " + strings.Repeat("x", i) + " is " + strings.Repeat("value ", 50) + "\n")
	}
	if out, stderr, code := runOnce(t, dir, baseEnv(), in.String()); code != 0 {
		t.Fatalf("making the store: exit %d\n%s\n%s", code, out, stderr)
	}
	path := filepath.Join(dir, "wirebot.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fl, ps := boltMetaFreelist(t, data)
	spoil(data, fl, ps)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCorruptDataFileExitsWithAdvice(t *testing.T) {
	cases := map[string]func(data []byte, freelist uint64, pageSize int){
		// bbolt's Open panicked on this one ("invalid freelist page").
		"freelist page": func(data []byte, fl uint64, ps int) {
			p := data[int(fl)*ps:]
			bin.LittleEndian.PutUint16(p[8:], 0x02) // flags: a leaf, not a freelist
		},
		// Open succeeds on this one; the consistency check must catch it
		// before a later read panics.
		"data pages": func(data []byte, fl uint64, ps int) {
			for pg := 2; pg*ps < len(data); pg++ {
				if uint64(pg) == fl {
					continue
				}
				p := data[pg*ps:]
				bin.LittleEndian.PutUint64(p[0:], uint64(pg)+1000) // wrong page id
				bin.LittleEndian.PutUint16(p[8:], 0x55)            // no such page type
			}
		},
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
			corruptWirebotDB(t, dir, spoil)
			start := time.Now()
			out, stderr, code := runOnce(t, dir, baseEnv(), "ping\nhistory\n")
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout %q\nstderr %s", code, out, stderr)
			}
			if strings.HasPrefix(stderr, "panic:") || strings.Contains(stderr, "\npanic:") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panicked:\n%s", stderr)
			}
			for _, want := range []string{"data_file ./wirebot.db", "backup", "move it aside"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(out, "PONG") {
				t.Errorf("answered on a corrupt store: %q", out)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s to give up", took)
			}
		})
	}
}

// A file spoiled under a running bot must not take the bot down: store
// calls that hit the damage fail, and the bot keeps answering.
func TestDataFileCorruptedWhileRunningDoesNotPanic(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "scripts"), 0o755)
	path := corruptWirebotDB(t, dir, func([]byte, uint64, int) {})
	p := startBot(t, dir, baseEnv())
	p.send("ping")
	p.expect("^PONG$")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fl, ps := boltMetaFreelist(t, data)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The bot maps the file: spoiling every page but the metas and the
	// freelist is seen by its next read.
	junk := make([]byte, ps)
	for i := range junk {
		junk[i] = 0xA5
	}
	for pg := 2; pg*ps < len(data); pg++ {
		if uint64(pg) == fl {
			continue
		}
		if _, err := f.WriteAt(junk, int64(pg*ps)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	p.send("what is fact number x", "history", "remember a is b", "ping")
	p.expect("^PONG$")
	p.send("ping")
	p.expect("^PONG$")
	code, _ := p.close()
	if s := p.stderr.String(); strings.Contains(s, "panic:") || strings.Contains(s, "goroutine ") {
		t.Fatalf("panicked (exit %d):\n%s", code, s)
	}
	if s := p.stderr.String(); !strings.Contains(s, "damaged") {
		t.Fatalf("the damage was never met, nothing was tested:\n%s", s)
	}
}
