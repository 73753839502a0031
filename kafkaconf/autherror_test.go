package kafkaconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
)

func TestIsAuthError(t *testing.T) {
	wrapped := fmt.Errorf("connect: %w", sarama.ErrSASLAuthenticationFailed)
	ours := &AuthError{Broker: "b:9092", What: "SASL", Err: errors.New("EOF")}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("EOF"), false},
		{sarama.ErrOutOfBrokers, false},
		{wrapped, true},
		{ours, true},
		{fmt.Errorf("run: %w", ours), true},
	} {
		if got := IsAuthError(c.err); got != c.want {
			t.Errorf("IsAuthError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if !errors.Is(ours, ErrAuthentication) || !strings.Contains(ours.Error(), "authentication failed") {
		t.Errorf("%v does not wrap ErrAuthentication", ours)
	}
}

// TestClassify: failures are told apart by their types, as sarama and
// crypto/tls wrap them, whatever their text says.
func TestClassify(t *testing.T) {
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	for _, c := range []struct {
		name                  string
		err                   error
		tls, hangup, explicit bool
	}{
		{"unknown CA", fmt.Errorf("sasl: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true, false, false},
		{"peer's alert", fmt.Errorf("read: %w", alert), true, false, false},
		{"plaintext answer", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true, false, false},
		{"handshake", &handshakeError{errors.New("unsupported protocol version")}, true, false, false},
		{"text only", errors.New("tls: something"), false, false, false},
		{"hangup", fmt.Errorf("read: %w", io.EOF), false, true, false},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false, true, false},
		{"refused login", fmt.Errorf("sasl: %w", sarama.ErrSASLAuthenticationFailed), false, false, true},
	} {
		if got := isTLS(c.err); got != c.tls {
			t.Errorf("%s: isTLS = %v, want %v", c.name, got, c.tls)
		}
		if got := isHangup(c.err); got != c.hangup {
			t.Errorf("%s: isHangup = %v, want %v", c.name, got, c.hangup)
		}
		if got := isExplicitAuth(c.err); got != c.explicit {
			t.Errorf("%s: isExplicitAuth = %v, want %v", c.name, got, c.explicit)
		}
	}
}
