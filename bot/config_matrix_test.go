package bot

import (
	"strings"
	"testing"
)

func TestValidateMatrix(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    MatrixConfig
		bad  []string // keys named in the error; none: valid
	}{
		{"token", MatrixConfig{Homeserver: "https://matrix.example.org", AccessToken: "syt_x", Rooms: []string{"#ops:example.org", "!abc:example.org"}}, nil},
		{"password", MatrixConfig{Homeserver: "http://127.0.0.1:8008", UserID: "@wirebot:example.org", Password: "pw"}, nil},
		{"nothing", MatrixConfig{}, []string{"matrix.homeserver:", "matrix.access_token:", "matrix.user_id:"}},
		{"password without user", MatrixConfig{Homeserver: "https://m.example.org", Password: "pw"}, []string{"matrix.user_id:"}},
		{"bad ids", MatrixConfig{Homeserver: "matrix.example.org", UserID: "wirebot", AccessToken: "t", Rooms: []string{"ops"}},
			[]string{"matrix.homeserver:", "matrix.user_id:", "matrix.rooms:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Adapter = "matrix"
			cfg.Matrix = tc.m
			err := cfg.Validate()
			if len(tc.bad) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, key := range tc.bad {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error does not name %s:\n%v", key, err)
				}
			}
			if strings.Contains(err.Error(), "pw") && tc.m.Password != "" {
				t.Errorf("the password shows in %v", err)
			}
		})
	}
}
