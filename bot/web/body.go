package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// Limits on reading webhook bodies (SPEC: Hardening).
const (
	// smallBody is the size up to which a body is read without a slot: a
	// small body is never held back by large ones.
	smallBody = 64 << 10
	// largeSlots is how many bodies over smallBody are read at once while
	// their signature is still unknown.
	largeSlots = 16
	// slotWait is how long a large body waits for a slot before 503.
	slotWait = time.Second
	// bodyDeadline is how long a request has to send its whole body.
	bodyDeadline = 10 * time.Second
)

var (
	errBodyTooLarge = errors.New("body too large")
	errBodyTimeout  = errors.New("body not sent in time")
	errBusy         = errors.New("too many large bodies being read")
)

// gate bounds how many large unauthenticated bodies are in memory at once.
type gate chan struct{}

func newGate(n int) gate { return make(gate, n) }

// acquire takes a slot, waiting at most wait.
func (g gate) acquire(ctx context.Context, wait time.Duration) bool {
	select {
	case g <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (g gate) release() { <-g }

// readBody reads at most limit bytes of r. declared is the request's
// Content-Length (-1 when unknown). When gated, a body over smallBody is
// read only while holding one of g's slots; ungated bodies (their sender
// is already authenticated) need none. A body of known length is read
// into one buffer of that size; of a body of unknown length the first
// smallBody bytes are read before a slot is asked for.
func readBody(ctx context.Context, r io.Reader, declared, limit int64, g gate, gated bool) ([]byte, error) {
	if declared > limit {
		return nil, errBodyTooLarge
	}
	if declared >= 0 {
		if gated && declared > smallBody {
			if !g.acquire(ctx, slotWait) {
				return nil, errBusy
			}
			defer g.release()
		}
		buf := make([]byte, declared)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, readErr(err)
		}
		return buf, nil
	}
	lr := io.LimitReader(r, limit+1)
	var buf bytes.Buffer
	// Up to smallBody+1 bytes first: enough to know whether it is large.
	if _, err := buf.ReadFrom(io.LimitReader(lr, smallBody+1)); err != nil {
		return nil, readErr(err)
	}
	if buf.Len() <= smallBody {
		return buf.Bytes(), nil
	}
	if gated {
		if !g.acquire(ctx, slotWait) {
			return nil, errBusy
		}
		defer g.release()
	}
	if _, err := buf.ReadFrom(lr); err != nil {
		return nil, readErr(err)
	}
	if int64(buf.Len()) > limit {
		return nil, errBodyTooLarge
	}
	return buf.Bytes(), nil
}

func readErr(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errBodyTimeout
	}
	return err
}
