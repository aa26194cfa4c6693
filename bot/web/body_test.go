package web

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// onlyReader hides the length of a strings.Reader, as a chunked body does.
type onlyReader struct{ io.Reader }

func TestReadBody(t *testing.T) {
	small, large := strings.Repeat("s", smallBody), strings.Repeat("L", smallBody+1)
	for _, tc := range []struct {
		name     string
		body     string
		declared bool // Content-Length known
		limit    int64
		gated    bool
		full     bool // every slot taken
		want     error
	}{
		{"small known, gate full", small, true, 1 << 20, true, true, nil},
		{"small chunked, gate full", small, false, 1 << 20, true, true, nil},
		{"large known, gate full", large, true, 1 << 20, true, true, errBusy},
		{"large chunked, gate full", large, false, 1 << 20, true, true, errBusy},
		{"large known, authenticated, gate full", large, true, 1 << 20, false, true, nil},
		{"large chunked, slot free", large, false, 1 << 20, true, false, nil},
		{"over the limit, known", large, true, smallBody, true, false, errBodyTooLarge},
		{"over the limit, chunked", large, false, smallBody, false, false, errBodyTooLarge},
		{"exactly the limit, chunked", large, false, smallBody + 1, true, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(2)
			if tc.full {
				g.acquire(context.Background(), 0)
				g.acquire(context.Background(), 0)
			}
			var r io.Reader = strings.NewReader(tc.body)
			declared := int64(len(tc.body))
			if !tc.declared {
				r, declared = onlyReader{r}, -1
			}
			got, err := readBody(context.Background(), r, declared, tc.limit, g, tc.gated)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && string(got) != tc.body {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.body))
			}
			if !tc.full && len(g) != 0 {
				t.Fatalf("%d slots still held", len(g))
			}
		})
	}
}
