package kafkaconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SASL mechanisms streamrls speaks (--sasl-mechanism).
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// SASLMechanisms lists the accepted --sasl-mechanism values.
var SASLMechanisms = []string{SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512}

// SecurityConfig is what a user gives to reach a secured cluster: SASL
// credentials and TLS files. The zero value is plaintext without SASL.
type SecurityConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL.
	Mechanism string
	User      string
	Password  string
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates.
	// Setting it (or CertFile) turns TLS on; with TLS on and no CAFile the
	// system roots are used.
	CAFile string
	// CertFile and KeyFile are this client's PEM certificate and key, for
	// brokers that require client certificates (mutual TLS). Both or neither.
	CertFile, KeyFile string
	// TLS turns TLS on with the system roots when no file is given.
	TLS bool
}

// Enabled says whether anything but plaintext is configured.
func (c SecurityConfig) Enabled() bool {
	return c.Mechanism != "" || c.tlsOn()
}

func (c SecurityConfig) tlsOn() bool {
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""
}

// ParseSASLMechanism normalises a --sasl-mechanism value.
func ParseSASLMechanism(s string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, m := range SASLMechanisms {
		if u == m {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown SASL mechanism %q: want one of %s", s, strings.Join(SASLMechanisms, ", "))
}

// Security checks the configuration, loads the TLS files and returns the
// Security that Kafka.Sarama applies to every client. Nil for plaintext.
func (c SecurityConfig) Security() (*Security, error) {
	if c.Mechanism == "" && (c.User != "" || c.Password != "") {
		return nil, errors.New("a SASL user or password is set but no mechanism (--sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
	}
	if !c.Enabled() {
		return nil, nil
	}
	var mech sarama.SASLMechanism
	var scramGen func() sarama.SCRAMClient
	if c.Mechanism != "" {
		m, err := ParseSASLMechanism(c.Mechanism)
		if err != nil {
			return nil, err
		}
		if c.User == "" {
			return nil, fmt.Errorf("SASL %s needs a user (--sasl-user)", m)
		}
		if c.Password == "" {
			return nil, fmt.Errorf("SASL %s needs a password (--sasl-password, --sasl-password-file or STREAMRLS_SASL_PASSWORD)", m)
		}
		switch m {
		case SASLPlain:
			mech = sarama.SASLTypePlaintext
		case SASLSCRAMSHA256:
			mech = sarama.SASLTypeSCRAMSHA256
			scramGen = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case SASLSCRAMSHA512:
			mech = sarama.SASLTypeSCRAMSHA512
			scramGen = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		}
	}
	var tlsCfg *tls.Config
	if c.tlsOn() {
		var err error
		if tlsCfg, err = ClientTLS(c.CAFile, c.CertFile, c.KeyFile); err != nil {
			return nil, err
		}
	}
	return &Security{Apply: func(sc *sarama.Config) error {
		if mech != "" {
			sc.Net.SASL.Enable = true
			sc.Net.SASL.Mechanism = mech
			sc.Net.SASL.User = c.User
			sc.Net.SASL.Password = c.Password
			sc.Net.SASL.Handshake = true
			sc.Net.SASL.SCRAMClientGeneratorFunc = scramGen
		}
		if tlsCfg != nil {
			sc.Net.TLS.Enable = true
			sc.Net.TLS.Config = tlsCfg.Clone()
		}
		return nil
	}}, nil
}

// ClientTLS builds a client TLS config: caFile ("" = system roots) verifies
// the brokers, certFile/keyFile (both or neither) identify this client.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile, "--tls-ca")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ServerTLS builds the embedded broker's TLS config from its certificate and
// key; a caFile makes the broker require client certificates signed by it.
func ServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a TLS broker needs --tls-cert and --tls-key")
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if caFile != "" {
		pool, err := loadCAs(caFile, "--tls-ca")
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadCAs(file, flag string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, file)
	}
	return pool, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// scramClient is sarama's SCRAMClient on github.com/xdg-go/scram, as in
// sarama's examples.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

// ErrAuthentication marks a failure to authenticate to Kafka: SASL
// credentials the broker refuses, or a TLS handshake that fails. It is not
// transient: retrying cannot help, so every role stops on it.
var ErrAuthentication = errors.New("kafka authentication failed")

// AuthError is an authentication failure with a broker; errors.Is(err,
// ErrAuthentication) holds for it.
type AuthError struct {
	Broker string
	What   string // e.g. "SASL SCRAM-SHA-256 as user \"alice\"" or "TLS handshake"
	Hint   string // the flags to check
	Err    error
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("kafka authentication failed: broker %s: %s: %v", e.Broker, e.What, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *AuthError) Unwrap() []error { return []error{ErrAuthentication, e.Err} }

// IsAuthError says whether err is an authentication failure: ours, or one
// of sarama's SASL error codes.
func IsAuthError(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, ErrAuthentication) || isExplicitAuth(err)
}

// CheckAuth connects to the bootstrap brokers once and reports an
// authentication failure as an *AuthError (errors.Is ErrAuthentication).
// It returns nil when a broker accepts the connection, and the connection
// error, not an authentication error, when no broker can be reached at all
// (a broker that is down is waited for by the roles, a refused login is
// not).
//
// Brokers reject bad credentials in two ways: Kafka answers with the
// SASL_AUTHENTICATION_FAILED error code, while some brokers (the embedded
// one among them) just close the connection in the middle of the SASL
// exchange. The second is told apart from a network problem by when it
// happens: after the TCP connection was made, during authentication, twice
// in a row.
func (k Kafka) CheckAuth(ctx context.Context) error {
	k = k.WithDefaults()
	cfg, err := k.Sarama()
	if err != nil {
		return err
	}
	cfg.ClientID = "streamrls-auth-check"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Net.WriteTimeout = 5 * time.Second
	var last error
	for _, addr := range k.Brokers {
		var authErr error
		for try := 0; try < 2; try++ {
			authErr, err = probe(ctx, cfg, addr)
			if authErr == nil || isExplicitAuth(authErr) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		if authErr != nil {
			return describeAuth(ctx, cfg, addr, authErr)
		}
		if err == nil {
			return nil
		}
		last = err
	}
	return last
}

// probe opens one connection and asks for metadata. authErr is a failure
// after the TCP connection was made (TLS or SASL, or the broker hanging up);
// err is anything else.
func probe(ctx context.Context, cfg *sarama.Config, addr string) (authErr, err error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// First a bare TCP dial: a broker that is down is not an auth failure.
	d := net.Dialer{Timeout: cfg.Net.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.Close()

	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return nil, err
	}
	defer b.Close()
	if _, err := b.Connected(); err != nil {
		if isDial(err) {
			return nil, err
		}
		return err, nil
	}
	if _, err := b.GetMetadata(&sarama.MetadataRequest{Version: 1}); err != nil {
		if isTLS(err) || isExplicitAuth(err) || (cfg.Net.SASL.Enable && isHangup(err)) {
			return err, nil
		}
		if !cfg.Net.SASL.Enable && isHangup(err) {
			// A SASL-only listener hangs up on a client that does not
			// authenticate; say so rather than retrying forever.
			return fmt.Errorf("%w: the broker closed the connection before any request was answered; does it require SASL (--sasl-mechanism) or TLS (--tls-ca)?", err), nil
		}
		return nil, err
	}
	return nil, nil
}

func describeAuth(ctx context.Context, cfg *sarama.Config, addr string, err error) error {
	e := &AuthError{Broker: addr, Err: err}
	switch {
	case isTLS(err):
		e.What = "TLS handshake"
		e.Hint = "check --tls-ca, --tls-cert and --tls-key"
	case !cfg.Net.TLS.Enable && isHangup(err) && speaksTLS(ctx, addr):
		e.What = "plaintext connection to a TLS listener"
		e.Hint = "set --tls-ca (and --tls-cert/--tls-key if the broker wants client certificates)"
	case cfg.Net.TLS.Enable && len(cfg.Net.TLS.Config.Certificates) == 0 && isHangup(err):
		e.What = "the broker closed the TLS connection"
		e.Hint = "if it requires client certificates, set --tls-cert and --tls-key; else check --sasl-mechanism, --sasl-user and --sasl-password"
	case cfg.Net.SASL.Enable:
		e.What = fmt.Sprintf("SASL %s as user %q", cfg.Net.SASL.Mechanism, cfg.Net.SASL.User)
		e.Hint = "check --sasl-mechanism, --sasl-user and --sasl-password"
		if isHangup(err) {
			e.Err = fmt.Errorf("the broker refused the login and closed the connection (%w)", err)
		}
	case cfg.Net.TLS.Enable:
		e.What = "connection refused after TLS"
		e.Hint = "check --sasl-mechanism, --sasl-user, --sasl-password and the TLS flags"
	default:
		e.What = "no SASL configured"
		e.Hint = "set --sasl-mechanism, --sasl-user and --sasl-password, and --tls-ca for a TLS listener"
	}
	return e
}

// speaksTLS says whether addr completes a TLS handshake within a second: to
// tell a plaintext client why a TLS listener hangs up on it (a plaintext
// listener just waits for the rest of what it takes for a request, hence
// the timeout). Nothing is sent after the handshake, so the certificate is
// not verified here.
func speaksTLS(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a probe only, see above
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func isExplicitAuth(err error) bool {
	var ke sarama.KError
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrSASLAuthenticationFailed, sarama.ErrIllegalSASLState, sarama.ErrUnsupportedSASLMechanism:
			return true
		}
	}
	return false
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isHangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, sarama.ErrNotConnected)
}

func isTLS(err error) bool {
	var (
		rh  tls.RecordHeaderError
		ae  tls.AlertError
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	return errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cve) ||
		errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) ||
		strings.Contains(err.Error(), "tls: ")
}

// CheckAuthOrWarn is CheckAuth for a role about to start: it returns the
// error only when the brokers refuse the credentials (so the role stops at
// once instead of retrying forever) and logs any other failure, leaving a
// broker that cannot be reached yet to the role, which waits for it.
func (k Kafka) CheckAuthOrWarn(ctx context.Context, log *slog.Logger) error {
	err := k.CheckAuth(ctx)
	if IsAuthError(err) {
		return err
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("kafka not reachable yet", "brokers", strings.Join(k.Brokers, ","), "err", err)
	}
	return nil
}
