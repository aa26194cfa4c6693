package jsontemplate

import (
	"encoding/json"
	"strings"
	"testing"
	stdtemplate "text/template"
)

const event = `{"status":"firing","receiver":"ops","alerts":[{"labels":{"alertname":"Disk","severity":"critical"},"startsAt":"2026-01-02T03:04:05Z"},{"labels":{"alertname":"CPU"}}],
"commonLabels":{"severity":"critical","b":"2","a":"1"},"n":3,"f":1.5,"ok":true,"none":null,"empty":""}`

var cases = []string{
	`{{.status}}`,
	`{{.commonLabels.severity}} {{.missing}} {{.missing.deeper}}`,
	`{{range .alerts}}{{.labels.alertname}};{{end}}`,
	`{{range $k, $v := .commonLabels}}{{$k}}={{$v}},{{end}}`,
	`{{range $i, $a := .alerts}}{{$i}}:{{index $a.labels "alertname"}} {{end}}`,
	`{{if eq .status "firing"}}FIRE{{else if eq .status "resolved"}}OK{{else}}?{{end}}`,
	`{{len .alerts}} {{index .alerts 1 | printf "%v"}} {{printf "%.1f %v %v" .f .n .ok}}`,
	`{{with .commonLabels}}{{.a}}{{.b}}{{end}}{{with .empty}}x{{else}}y{{end}}`,
	`{{and .ok .n}} {{or .none .empty "z"}} {{not .ok}} {{lt .n 4.0}} {{ne .receiver "x"}}`,
	`{{.none}} {{.alerts}} {{html "<b>"}} {{js "a'b"}} {{urlquery "a b"}} {{print 1 2}}{{println "x"}}`,
	`{{/* comment */}}{{- .status -}} {{define "t"}}[{{.}}]{{end}}{{template "t" .receiver}}`,
	`{{range .n}}{{.}}{{end}}`,
	`{{.status.nope}}`,
	`{{index .alerts 5}}`,
	`{{break}}`,
}

// TestSameAsTextTemplate: on decoded JSON, every template renders (or
// fails) exactly as the standard library's.
func TestSameAsTextTemplate(t *testing.T) {
	var data map[string]any
	if err := json.Unmarshal([]byte(event), &data); err != nil {
		t.Fatal(err)
	}
	for _, src := range cases {
		want, wantErr := renderStd(src, data)
		got, gotErr := render(src, data)
		if got != want || (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%s:\n got %q, %v\nwant %q, %v", src, got, gotErr, want, wantErr)
		}
		if wantErr != nil && gotErr != nil && strings.TrimPrefix(gotErr.Error(), "template:") != strings.TrimPrefix(wantErr.Error(), "template:") {
			t.Errorf("%s: error %q, want %q", src, gotErr, wantErr)
		}
	}
}

// TestNoMethodsCalled: a field name is never a method call.
func TestNoMethodsCalled(t *testing.T) {
	got, err := render(`{{.String}}`, stringer{})
	if err == nil {
		t.Fatalf("a method was called: %q", got)
	}
}

type stringer struct{}

func (stringer) String() string { return "called" }

func renderStd(src string, data any) (string, error) {
	t, err := stdtemplate.New("x").Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, data)
	return b.String(), err
}

func render(src string, data any) (string, error) {
	t, err := New("x").Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, data)
	return b.String(), err
}

func FuzzSameAsTextTemplate(f *testing.F) {
	for _, c := range cases {
		f.Add(c)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(event), &data); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		want, wantErr := renderStd(src, data)
		got, gotErr := render(src, data)
		if got != want || (wantErr == nil) != (gotErr == nil) {
			t.Errorf("%q:\n got %q, %v\nwant %q, %v", src, got, gotErr, want, wantErr)
		}
	})
}
