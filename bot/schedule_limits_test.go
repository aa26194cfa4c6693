package bot

import (
	"testing"
	"time"
)

func TestMinGap(t *testing.T) {
	from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		want time.Duration
	}{
		{"* * * * * *", time.Second},
		{"@every 30s", 30 * time.Second},
		{"@every 1m", time.Minute},
		{"* * * * *", time.Minute},
		{"0,30 * * * * *", 30 * time.Second},
		{"0,1 0 0 * * *", time.Second}, // two ticks a second apart, once a day
		{"*/15 9 * * 1-5", 15 * time.Minute},
		{"@hourly", time.Hour},
		{"@daily", 24 * time.Hour},
		{"0 9 * * 1-5", 24 * time.Hour},
		{"* 0 1 1 *", time.Minute}, // a burst on new year's day only
	} {
		sched, err := CronParser().Parse(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := minGap(sched, from); got != tc.want {
			t.Errorf("minGap(%q) = %s, want %s", tc.spec, got, tc.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", time.Second: "1s", 90 * time.Second: "1m30s", time.Hour: "1h", 90 * time.Minute: "1h30m", 0: "0s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
