package irc

import (
	"net"
	"strings"
	"testing"
)

type recordConn struct {
	net.Conn
	got strings.Builder
}

func (r *recordConn) Write(b []byte) (int, error) { r.got.Write(b); return len(b), nil }

func TestFilterConnDropsWHO(t *testing.T) {
	rec := &recordConn{}
	f := &filterConn{Conn: rec}
	for _, w := range []string{"PRIVMSG #ops :hi\r\n", "WHO alice %tacuhnr,1\r\n", "PRIV", "MSG #ops :split ", "write\r\nWHO #ops\r\nPONG :x\r\n"} {
		if n, err := f.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if want := "PRIVMSG #ops :hi\r\nPRIVMSG #ops :split write\r\nPONG :x\r\n"; rec.got.String() != want {
		t.Fatalf("wrote %q, want %q", rec.got.String(), want)
	}
}

func TestSplitLine(t *testing.T) {
	long := strings.Repeat("word ", 100) + strings.Repeat("é", 300)
	parts := splitLine(long, 100)
	for _, p := range parts {
		if len(p) > 100 {
			t.Fatalf("part of %d bytes", len(p))
		}
	}
	if strings.Join(strings.Fields(strings.Join(parts, " ")), "") != strings.Join(strings.Fields(long), "") {
		t.Fatal("parts do not make the line")
	}
}
