package kafkaconf

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SASL mechanisms streamrls speaks.
const (
	SASLPlain       = "PLAIN"
	SASLSCRAMSHA256 = "SCRAM-SHA-256"
	SASLSCRAMSHA512 = "SCRAM-SHA-512"
)

// SASLMechanisms lists the accepted SecurityConfig.Mechanism values.
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

// ParseSASLMechanism normalises a SASL mechanism's name.
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
		return nil, fmt.Errorf("a SASL user or password is set but no SASL mechanism (%s)", strings.Join(SASLMechanisms, ", "))
	}
	if !c.Enabled() {
		return nil, nil
	}
	mech, scramGen, err := c.sasl()
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if c.tlsOn() {
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

// sasl is sarama's mechanism for c.Mechanism ("" for none) and its SCRAM
// client, if it needs one.
func (c SecurityConfig) sasl() (sarama.SASLMechanism, func() sarama.SCRAMClient, error) {
	if c.Mechanism == "" {
		return "", nil, nil
	}
	m, err := ParseSASLMechanism(c.Mechanism)
	if err != nil {
		return "", nil, err
	}
	if c.User == "" {
		return "", nil, fmt.Errorf("SASL %s needs a user", m)
	}
	if c.Password == "" {
		return "", nil, fmt.Errorf("SASL %s needs a password", m)
	}
	switch m {
	case SASLSCRAMSHA256:
		return sarama.SASLTypeSCRAMSHA256, func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }, nil
	case SASLSCRAMSHA512:
		return sarama.SASLTypeSCRAMSHA512, func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }, nil
	}
	return sarama.SASLTypePlaintext, nil, nil
}
