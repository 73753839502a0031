package main

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/broker"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/pipeline"
)

// securityFlags are the SASL and TLS flags: a client's credentials in every
// role that talks to Kafka, the credentials it requires in `broker`.
type securityFlags struct {
	mechanism, user, password, passwordFile string
	tlsCA, tlsCert, tlsKey                  string
}

func (s *securityFlags) register(fs *pflag.FlagSet, server bool) {
	if server {
		fs.StringVar(&s.mechanism, "sasl-mechanism", "", "require SASL authentication with this mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no authentication)")
		fs.StringVar(&s.user, "sasl-user", "", "the user the broker accepts (a superuser)")
		fs.StringVar(&s.password, "sasl-password", "", "that user's password (prefer --sasl-password-file or STREAMRLS_SASL_PASSWORD: others can read a command line)")
		fs.StringVar(&s.passwordFile, "sasl-password-file", "", "file holding that user's password (one trailing newline is ignored)")
		fs.StringVar(&s.tlsCert, "tls-cert", "", "serve TLS with this PEM certificate (with --tls-key)")
		fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
		fs.StringVar(&s.tlsCA, "tls-ca", "", "require client certificates signed by the CAs in this PEM file (mutual TLS)")
		return
	}
	fs.StringVar(&s.mechanism, "sasl-mechanism", "", "authenticate to Kafka with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&s.user, "sasl-user", "", "SASL user")
	fs.StringVar(&s.password, "sasl-password", "", "SASL password (prefer --sasl-password-file or STREAMRLS_SASL_PASSWORD: others can read a command line)")
	fs.StringVar(&s.passwordFile, "sasl-password-file", "", "file holding the SASL password (one trailing newline is ignored)")
	fs.StringVar(&s.tlsCA, "tls-ca", "", "connect with TLS and verify the brokers against the CAs in this PEM file")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "connect with TLS and present this PEM client certificate (with --tls-key; for brokers that require client certificates)")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
}

// config checks the flags and reads the password file.
func (s *securityFlags) config() (kafkaconf.SecurityConfig, error) {
	c := kafkaconf.SecurityConfig{User: s.user, Password: s.password, CAFile: s.tlsCA, CertFile: s.tlsCert, KeyFile: s.tlsKey}
	if s.mechanism != "" {
		m, err := kafkaconf.ParseSASLMechanism(s.mechanism)
		if err != nil {
			return c, flagErr("--sasl-mechanism: %v", err)
		}
		c.Mechanism = m
	}
	if s.passwordFile != "" {
		if s.password != "" {
			return c, flagErr("--sasl-password-file %s: a password is also given by --sasl-password or STREAMRLS_SASL_PASSWORD; give one", s.passwordFile)
		}
		b, err := os.ReadFile(s.passwordFile)
		if err != nil {
			return c, flagErr("--sasl-password-file: %v", err)
		}
		c.Password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if c.Password == "" {
			return c, flagErr("--sasl-password-file %s is empty", s.passwordFile)
		}
	}
	switch {
	case c.Mechanism != "" && c.User == "":
		return c, flagErr("--sasl-mechanism %s needs --sasl-user", c.Mechanism)
	case c.Mechanism != "" && c.Password == "":
		return c, flagErr("--sasl-mechanism %s needs --sasl-password, --sasl-password-file or STREAMRLS_SASL_PASSWORD", c.Mechanism)
	case c.Mechanism == "" && (c.User != "" || c.Password != ""):
		return c, flagErr("--sasl-user/--sasl-password need --sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return c, flagErr("--tls-cert and --tls-key go together: give both or neither")
	}
	return c, nil
}

// client is the kafkaconf.Security of a Kafka client (nil: plaintext).
func (s *securityFlags) client() (*kafkaconf.Security, error) {
	c, err := s.config()
	if err != nil {
		return nil, err
	}
	sec, err := c.Security()
	if err != nil {
		return nil, usageError{err}
	}
	return sec, nil
}

// server is the embedded broker's kfake options for these flags.
func (s *securityFlags) server() ([]kfake.Opt, error) {
	c, err := s.config()
	if err != nil {
		return nil, err
	}
	var opts []kfake.Opt
	if c.Mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(c.Mechanism, c.User, c.Password))
	}
	if c.CertFile != "" {
		tc, err := broker.ServerTLS(c.CAFile, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, usageError{err}
		}
		opts = append(opts, kfake.TLS(tc))
	} else if c.CAFile != "" {
		return nil, flagErr("--tls-ca on the broker needs --tls-cert and --tls-key")
	}
	return opts, nil
}

// authFlagHints say which flags to check for each reason a broker refuses
// a client (kafkaconf.AuthError).
var authFlagHints = map[kafkaconf.AuthReason]string{
	kafkaconf.AuthTLSHandshake:    "check --tls-ca, --tls-cert and --tls-key",
	kafkaconf.AuthPlaintextToTLS:  "set --tls-ca (and --tls-cert/--tls-key if the broker wants client certificates)",
	kafkaconf.AuthTLSClosed:       "if it requires client certificates, set --tls-cert and --tls-key; else check --sasl-mechanism, --sasl-user and --sasl-password",
	kafkaconf.AuthSASLRefused:     "check --sasl-mechanism, --sasl-user and --sasl-password",
	kafkaconf.AuthRefusedAfterTLS: "check --sasl-mechanism, --sasl-user, --sasl-password and the TLS flags",
	kafkaconf.AuthNoSASL:          "set --sasl-mechanism, --sasl-user and --sasl-password, and --tls-ca for a TLS listener",
}

// withFlagHints returns err with an authentication failure's hint naming
// the flags to check.
func withFlagHints(err error) error {
	var ae *kafkaconf.AuthError
	if errors.As(err, &ae) {
		if h, ok := authFlagHints[ae.Reason]; ok {
			ae.Hint = h
		}
	}
	return err
}

// httpAuthFlags are --http-token and --http-token-file.
type httpAuthFlags struct{ token, tokenFile string }

func (h *httpAuthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.token, "http-token", "", "require this bearer token (browsers: a session from /login) on all but /healthz; prefer --http-token-file")
	fs.StringVar(&h.tokenFile, "http-token-file", "", "file holding the HTTP bearer token (one trailing newline is ignored)")
}

// httpFlags are --http and its bearer token.
type httpFlags struct {
	addr     string
	auth     httpAuthFlags
	idle     time.Duration
	optional bool // an empty --http serves nothing
}

// register registers the flags; a role whose default address is empty
// serves HTTP only when --http is given.
func (h *httpFlags) register(fs *pflag.FlagSet, def, usage string) {
	fs.StringVar(&h.addr, "http", def, usage)
	fs.DurationVar(&h.idle, "http-idle-timeout", api.IdleTimeout, "how long an idle keep-alive connection of the HTTP server is kept")
	h.auth.register(fs)
	h.optional = def == ""
}

// listen reads the token and listens on --http (no listener when it is
// optional and empty), so that a bad address fails at once, as a usage
// error. It warns about an API open to the network without a token.
func (h *httpFlags) listen(log *slog.Logger) (pipeline.HTTP, error) {
	if h.optional && h.addr == "" {
		return pipeline.HTTP{}, nil
	}
	token, err := h.auth.read()
	if err != nil {
		return pipeline.HTTP{}, err
	}
	if h.idle <= 0 {
		return pipeline.HTTP{}, flagErr("--http-idle-timeout %v: want > 0", h.idle)
	}
	if token == "" && !loopback(h.addr) {
		log.Warn("the HTTP API is reachable from the network without a token; set --http-token-file", "addr", h.addr)
	}
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		return pipeline.HTTP{}, flagErr("--http %q: %v", h.addr, err)
	}
	return pipeline.HTTP{Listener: ln, Token: token, IdleTimeout: h.idle}, nil
}

// read is the token of the flags ("": none).
func (h *httpAuthFlags) read() (string, error) {
	token := h.token
	if h.tokenFile != "" {
		if token != "" {
			return "", flagErr("--http-token-file %s: a token is also given by --http-token or STREAMRLS_HTTP_TOKEN; give one", h.tokenFile)
		}
		b, err := os.ReadFile(h.tokenFile)
		if err != nil {
			return "", flagErr("--http-token-file: %v", err)
		}
		token = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if token == "" {
			return "", flagErr("--http-token-file %s is empty", h.tokenFile)
		}
	}
	return token, nil
}

// loopback says whether addr binds to a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
