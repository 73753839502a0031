package kafkaconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/IBM/sarama"
)

// ErrAuthentication marks a failure to authenticate to Kafka: SASL
// credentials the broker refuses, or a TLS handshake that fails. It is not
// transient: retrying cannot help, so every role stops on it.
var ErrAuthentication = errors.New("kafka authentication failed")

// AuthReason says which settings an AuthError points at.
type AuthReason int

const (
	// AuthTLSHandshake: the TLS handshake failed; check the CA file, the
	// client certificate and its key.
	AuthTLSHandshake AuthReason = iota + 1
	// AuthPlaintextToTLS: a plaintext client reached a TLS listener.
	AuthPlaintextToTLS
	// AuthTLSClosed: the broker closed a TLS connection without a client
	// certificate: it may require one, or refuse the SASL login.
	AuthTLSClosed
	// AuthSASLRefused: the broker refused the SASL login.
	AuthSASLRefused
	// AuthRefusedAfterTLS: the broker hung up after the TLS handshake,
	// without SASL configured.
	AuthRefusedAfterTLS
	// AuthNoSASL: the broker hung up on a plaintext client without SASL.
	AuthNoSASL
)

// AuthError is an authentication failure with a broker; errors.Is(err,
// ErrAuthentication) holds for it.
type AuthError struct {
	Broker string
	What   string // e.g. "SASL SCRAM-SHA-256 as user \"alice\"" or "TLS handshake"
	Reason AuthReason
	Hint   string // the settings to check
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

// handshakeError is a failed TLS handshake with a broker that accepted the
// TCP connection: crypto/tls reports many such failures as plain errors.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isHangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, sarama.ErrNotConnected)
}

// isTLS says whether err is a TLS failure: a handshake that failed, a
// certificate that does not verify, or a TLS alert (crypto/tls reports an
// alert as a *net.OpError, "remote error" for the peer's, "local error"
// for its own).
func isTLS(err error) bool {
	var (
		he  *handshakeError
		rh  tls.RecordHeaderError
		ae  tls.AlertError
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		op  *net.OpError
	)
	return errors.As(err, &he) || errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cve) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error")
}
