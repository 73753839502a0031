package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamrls/streamrls/api"
	"github.com/streamrls/streamrls/kafkaconf"
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
		fs.StringVar(&s.password, "sasl-password", "", "that user's password (prefer --sasl-password-file or STREAMRLS_SASL_PASSWORD: a command line is visible to every user of the machine)")
		fs.StringVar(&s.passwordFile, "sasl-password-file", "", "file holding that user's password (one trailing newline is ignored)")
		fs.StringVar(&s.tlsCert, "tls-cert", "", "serve TLS with this PEM certificate (with --tls-key)")
		fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
		fs.StringVar(&s.tlsCA, "tls-ca", "", "require client certificates signed by the CAs in this PEM file (mutual TLS)")
		return
	}
	fs.StringVar(&s.mechanism, "sasl-mechanism", "", "authenticate to Kafka with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&s.user, "sasl-user", "", "SASL user")
	fs.StringVar(&s.password, "sasl-password", "", "SASL password (prefer --sasl-password-file or STREAMRLS_SASL_PASSWORD: a command line is visible to every user of the machine)")
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
		tc, err := kafkaconf.ServerTLS(c.CAFile, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, usageError{err}
		}
		opts = append(opts, kfake.TLS(tc))
	} else if c.CAFile != "" {
		return nil, flagErr("--tls-ca on the broker needs --tls-cert and --tls-key")
	}
	return opts, nil
}

// checkAuth stops a role at once when the brokers refuse its credentials,
// instead of retrying forever. A broker that cannot be reached is left to
// the role, which waits for it.
func checkAuth(ctx context.Context, kc kafkaconf.Kafka, log *slog.Logger) error {
	err := kc.CheckAuth(ctx)
	if kafkaconf.IsAuthError(err) {
		return err
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("kafka not reachable yet", "brokers", strings.Join(kc.Brokers, ","), "err", err)
	}
	return nil
}

// httpAuthFlags are --http-token and --http-token-file.
type httpAuthFlags struct{ token, tokenFile string }

func (h *httpAuthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.token, "http-token", "", "require \"Authorization: Bearer TOKEN\" on every HTTP route but /healthz (prefer --http-token-file or STREAMRLS_HTTP_TOKEN)")
	fs.StringVar(&h.tokenFile, "http-token-file", "", "file holding the HTTP bearer token (one trailing newline is ignored)")
}

// wrap returns h behind the bearer token, if one is set, and warns about an
// API open to the network without one.
func (h *httpAuthFlags) wrap(addr string, next http.Handler, log *slog.Logger) (http.Handler, error) {
	token := h.token
	if h.tokenFile != "" {
		if token != "" {
			return nil, flagErr("--http-token-file %s: a token is also given by --http-token or STREAMRLS_HTTP_TOKEN; give one", h.tokenFile)
		}
		b, err := os.ReadFile(h.tokenFile)
		if err != nil {
			return nil, flagErr("--http-token-file: %v", err)
		}
		token = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if token == "" {
			return nil, flagErr("--http-token-file %s is empty", h.tokenFile)
		}
	}
	if token == "" {
		if !loopback(addr) {
			log.Warn("the HTTP API is reachable from the network without a token; set --http-token-file", "addr", addr)
		}
		return next, nil
	}
	return api.RequireToken(token, next), nil
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
