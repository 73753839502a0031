package kafkaconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

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
			if authErr == nil || isExplicitAuth(authErr) || isTLS(authErr) {
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
	if cfg.Net.TLS.Enable {
		if authErr, err := handshake(ctx, cfg, addr); authErr != nil || err != nil {
			return authErr, err
		}
	}

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
			return fmt.Errorf("%w: the broker closed the connection before any request was answered; does it require SASL or TLS?", err), nil
		}
		return nil, err
	}
	return nil, nil
}

// handshake completes a TLS handshake with addr as sarama's clients would.
// A failure is an authErr (a *handshakeError) unless it is the network's: a
// timeout or a hangup is left to the requests that follow, which tell a
// refused login from a broker that is slow or restarting.
func handshake(ctx context.Context, cfg *sarama.Config, addr string) (authErr, err error) {
	tc := cfg.Net.TLS.Config.Clone()
	if tc.ServerName == "" && !tc.InsecureSkipVerify {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			tc.ServerName = host
		}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: cfg.Net.DialTimeout}, Config: tc}
	conn, err := d.DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		conn.Close()
		return nil, nil
	case isDial(err):
		return nil, err
	case isTimeout(err) || isHangup(err):
		return nil, nil
	}
	return &handshakeError{err}, nil
}

// describeAuth says which settings an authentication failure points at.
func describeAuth(ctx context.Context, cfg *sarama.Config, addr string, err error) error {
	e := &AuthError{Broker: addr, Err: err}
	switch {
	case isTLS(err):
		e.What, e.Reason = "TLS handshake", AuthTLSHandshake
		e.Hint = "check the TLS CA file, client certificate and key"
	case !cfg.Net.TLS.Enable && isHangup(err) && speaksTLS(ctx, addr):
		e.What, e.Reason = "plaintext connection to a TLS listener", AuthPlaintextToTLS
		e.Hint = "turn TLS on with the brokers' CA file (and a client certificate and key if the broker wants them)"
	case cfg.Net.TLS.Enable && len(cfg.Net.TLS.Config.Certificates) == 0 && isHangup(err):
		e.What, e.Reason = "the broker closed the TLS connection", AuthTLSClosed
		e.Hint = "if it requires client certificates, give a TLS client certificate and key; else check the SASL mechanism, user and password"
	case cfg.Net.SASL.Enable:
		e.What, e.Reason = fmt.Sprintf("SASL %s as user %q", cfg.Net.SASL.Mechanism, cfg.Net.SASL.User), AuthSASLRefused
		e.Hint = "check the SASL mechanism, user and password"
		if isHangup(err) {
			e.Err = fmt.Errorf("the broker refused the login and closed the connection (%w)", err)
		}
	case cfg.Net.TLS.Enable:
		e.What, e.Reason = "connection refused after TLS", AuthRefusedAfterTLS
		e.Hint = "check the SASL mechanism, user and password and the TLS files"
	default:
		e.What, e.Reason = "no SASL configured", AuthNoSASL
		e.Hint = "give a SASL mechanism, user and password, and the brokers' TLS CA file for a TLS listener"
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
