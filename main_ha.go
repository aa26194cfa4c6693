package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wirebot/wirebot/bot"
	"github.com/wirebot/wirebot/bot/etcdstore"
)

// instanceName is how this instance shows as leader: host and pid.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return host + " pid " + strconv.Itoa(os.Getpid())
}

func dialEtcd(ctx context.Context, cfg bot.Config, timeout time.Duration) (*etcdstore.KV, error) {
	e := cfg.Store.Etcd
	tc, err := etcdTLS(e)
	if err != nil {
		return nil, err
	}
	return etcdstore.Dial(ctx, etcdstore.Options{
		Endpoints: e.Endpoints, Prefix: e.Prefix, Username: e.Username, Password: e.Password.Reveal(), Timeout: timeout, TLS: tc,
	})
}

// etcdTLS is the TLS config for store.etcd.tls_*; nil when none is set.
func etcdTLS(e bot.EtcdConfig) (*tls.Config, error) {
	if e.TLSCA == "" && e.TLSCert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLSCA != "" {
		pem, err := os.ReadFile(e.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("store.etcd.tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store.etcd.tls_ca: %s holds no PEM certificate", e.TLSCA)
		}
	}
	if e.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(e.TLSCert, e.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("store.etcd.tls_cert, tls_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// runHA runs one instance of a bot whose state is in etcd: it waits on
// standby (off chat, answering HTTP with 503) until it wins the election
// of its prefix, then runs the bot until ctx ends or the leadership is
// lost, and then stands by again.
func runHA(ctx context.Context, cfg bot.Config, log *slog.Logger, stdin io.Reader, stdout io.Writer, environ []string) error {
	kv, err := dialEtcd(ctx, cfg, 5*time.Second)
	if err != nil {
		return err
	}
	defer kv.Close()
	kv.SetFence("", 0) // nothing is written without the leadership
	store, err := bot.NewStore(kv, cfg.Audit.Keep)
	if err != nil {
		return err
	}
	name := instanceName()
	ttl := cfg.Store.Etcd.LeaseTTL
	for {
		standby, err := startStandby(cfg, kv, ttl, log)
		if err != nil {
			return err
		}
		log.Info("standby: waiting to lead", "instance", name, "prefix", kv.Prefix())
		term, err := campaign(ctx, kv, name, ttl, log)
		standby.stop()
		if err != nil {
			return nil // ctx ended
		}
		kv.SetFence(term.Key, term.Rev)
		log.Info("leading", "instance", name)
		runCtx, cancel := context.WithCancel(ctx)
		stopWatch := context.AfterFunc(term.Context(), cancel)
		role := func() bot.Role { return bot.Role{Role: "leader", Leader: name} }
		err = serveBot(runCtx, cfg, log, store, role, stdin, stdout, environ)
		stopWatch()
		lost := term.Context().Err() != nil && ctx.Err() == nil
		cancel()
		kv.SetFence("", 0)
		term.Resign()
		if !lost {
			return err
		}
		log.Warn("lost the leadership (is etcd reachable?): stopped, standing by", "instance", name)
	}
}

// campaign tries until it leads or ctx ends.
func campaign(ctx context.Context, kv *etcdstore.KV, name string, ttl time.Duration, log *slog.Logger) (*etcdstore.Term, error) {
	for {
		term, err := kv.Campaign(ctx, name, ttl)
		if err == nil {
			return term, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		log.Warn("election", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// standbyServer answers on http.listen while this instance does not lead.
type standbyServer struct {
	srv  *http.Server
	done chan struct{}
}

func startStandby(cfg bot.Config, kv *etcdstore.KV, ttl time.Duration, log *slog.Logger) (*standbyServer, error) {
	s := &standbyServer{done: make(chan struct{})}
	if cfg.HTTP.Listen == "" {
		close(s.done)
		return s, nil
	}
	var l net.Listener
	var err error
	// The leader's server may be letting go of the port just now.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if l, err = net.Listen("tcp", cfg.HTTP.Listen); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	retry := strconv.Itoa(int((ttl + 2*time.Second).Seconds()))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		leader, _ := kv.Leader(r.Context())
		w.WriteHeader(http.StatusServiceUnavailable)
		if leader == "" {
			leader = "none"
		}
		fmt.Fprintf(w, "standby (leader: %s)\n", leader)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", retry)
		http.Error(w, "standby: another instance leads", http.StatusServiceUnavailable)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("standby http stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *standbyServer) stop() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = s.srv.Close()
	}
	<-s.done
}

// checkEtcd reports whether the configured etcd answers.
func checkEtcd(cfg bot.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := dialEtcd(ctx, cfg, 3*time.Second)
	if err != nil {
		return fmt.Errorf("store.etcd.endpoints: %w", err)
	}
	defer kv.Close()
	leader, err := kv.Leader(ctx)
	if err != nil {
		return fmt.Errorf("store.etcd.endpoints: %w", err)
	}
	if leader == "" {
		leader = "none yet"
	}
	fmt.Fprintf(stdout, "etcd %s reachable, prefix %s, leader: %s\n", strings.Join(cfg.Store.Etcd.Endpoints, ","), cfg.Store.Etcd.Prefix, leader)
	return nil
}
