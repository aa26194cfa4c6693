package irc

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/lrstanley/girc"
)

// girc paces every line it sends, its own bookkeeping included, and sends
// a WHO for each user who joins a channel: after three joins a reply
// waited 11 s behind them. Servers make it worse: ngircd holds back every
// later line of a client for a while after each WHO. The adapter uses
// nothing WHO tells girc (users are named by nick or account tag), so
// girc's flood control is off, the adapter paces its reply lines itself
// (Adapter.lim in Send), and the dialer's connection drops girc's WHO
// lines before they reach the server. Replies thus never wait behind
// bookkeeping.

// dialer connects, with TLS when configured (done here, below the
// filter, so that the filter sees lines rather than TLS records).
type dialer struct {
	tls *tls.Config // nil: plain TCP
}

func (d dialer) Dial(network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).Dial(network, addr)
	if err != nil {
		return nil, err
	}
	if d.tls != nil {
		tc := tls.Client(c, d.tls)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &filterConn{Conn: c}, nil
}

var _ girc.Dialer = dialer{}

// filterConn passes every line girc writes except bookkeeping ones.
type filterConn struct {
	net.Conn
	mu      sync.Mutex
	partial []byte
}

// bookkeeping reports a line only girc's user tracking wants.
func bookkeeping(line []byte) bool { return bytes.HasPrefix(line, []byte("WHO ")) }

// Write takes what girc sends: whole lines, or parts of them.
func (f *filterConn) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partial = append(f.partial, b...)
	var out []byte
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			break
		}
		if line := f.partial[:i+1]; !bookkeeping(line) {
			out = append(out, line...)
		}
		f.partial = f.partial[i+1:]
	}
	f.partial = bytes.Clone(f.partial)
	if len(out) > 0 {
		if _, err := f.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
