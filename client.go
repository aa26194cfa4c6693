package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to the script API of the bot running this script.
type apiClient struct {
	base, token string
	http        *http.Client
}

var errOutsideRun = errors.New("WIREBOT_API_URL and WIREBOT_API_TOKEN are not set: this command works only inside a script that wirebot is running")

func newAPIClient(getenv func(string) string) (*apiClient, error) {
	base, token := getenv("WIREBOT_API_URL"), getenv("WIREBOT_API_TOKEN")
	if base == "" || token == "" {
		return nil, errOutsideRun
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// errMissing is a key that is not there: exit 1 and print nothing.
var errMissing = errors.New("no such key")

func (c *apiClient) do(ctx context.Context, method, path string, q url.Values, body string) (string, error) {
	var rd io.Reader
	if body != "" || method == http.MethodPut || method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+"?"+q.Encode(), rd)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("reach the bot at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read the bot's answer: %w", err)
	}
	// An error answer is shown short, whatever the bot sent.
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", errMissing
	case resp.StatusCode == http.StatusUnauthorized:
		return "", fmt.Errorf("the bot refused this run's token (%s)", msg)
	case resp.StatusCode >= 300:
		return "", fmt.Errorf("the bot answered %s: %s", resp.Status, msg)
	}
	return string(data), nil
}

// runBrain is `wirebot brain get|set|del|list [--global]`.
func runBrain(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	global := false
	var rest []string
	for _, a := range args {
		if a == "--global" || a == "-global" {
			global = true
			continue
		}
		rest = append(rest, a)
	}
	const use = "usage: wirebot brain [--global] get KEY | set KEY [VALUE...] | del KEY | list [PREFIX] | incr KEY [N]"
	if len(rest) == 0 {
		return &usageError{errors.New(use)}
	}
	op, rest := rest[0], rest[1:]
	wantArgs := map[string][2]int{"get": {1, 1}, "set": {1, -1}, "del": {1, 1}, "list": {0, 1}, "incr": {1, 2}}
	n, ok := wantArgs[op]
	if !ok || len(rest) < n[0] || (n[1] >= 0 && len(rest) > n[1]) {
		return &usageError{errors.New(use)}
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	q := url.Values{}
	if global {
		q.Set("global", "1")
	}
	switch op {
	case "get":
		q.Set("key", rest[0])
		v, err := c.do(ctx, http.MethodGet, "/v1/brain", q, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
	case "set":
		q.Set("key", rest[0])
		var value string
		if len(rest) > 1 {
			value = strings.Join(rest[1:], " ")
		} else {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return fmt.Errorf("read value from stdin: %w", err)
			}
			value = strings.TrimSuffix(string(data), "\n")
		}
		_, err = c.do(ctx, http.MethodPut, "/v1/brain", q, value)
		return err
	case "del":
		q.Set("key", rest[0])
		_, err = c.do(ctx, http.MethodDelete, "/v1/brain", q, "")
		if errors.Is(err, errMissing) {
			return nil // deleting what is not there is done
		}
		return err
	case "incr":
		q.Set("key", rest[0])
		if len(rest) == 2 {
			q.Set("by", rest[1])
		}
		v, err := c.do(ctx, http.MethodPost, "/v1/brain/incr", q, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
	case "list":
		if len(rest) == 1 {
			q.Set("prefix", rest[0])
		}
		keys, err := c.do(ctx, http.MethodGet, "/v1/brain/keys", q, "")
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, keys)
	}
	return nil
}

// runSay is `wirebot say [--channel C] TEXT`; with no TEXT it reads stdin.
func runSay(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("wirebot say", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; -h prints the whole usage on stdout
	channel := fs.String("channel", "", "channel to post to (default: the run's channel and thread)")
	if err := fs.Parse(args); err != nil {
		return &usageError{err}
	}
	text := strings.Join(fs.Args(), " ")
	if fs.NArg() == 0 {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read text from stdin: %w", err)
		}
		text = string(data)
	}
	if strings.TrimSpace(text) == "" {
		return &usageError{errors.New("usage: wirebot say [--channel C] TEXT (or the text on stdin)")}
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *channel != "" {
		q.Set("channel", *channel)
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/say", q, text)
	return err
}
