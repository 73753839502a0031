package kafkaconf_test

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/streamrls/streamrls/kafkaconf"
)

func TestSecurityConfig(t *testing.T) {
	for _, c := range []struct {
		cfg     kafkaconf.SecurityConfig
		mech    sarama.SASLMechanism
		wantErr string
	}{
		{cfg: kafkaconf.SecurityConfig{}},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "scram-sha-512", User: "u", Password: "p"}, mech: sarama.SASLTypeSCRAMSHA512},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "SCRAM-SHA-256", User: "u", Password: "p"}, mech: sarama.SASLTypeSCRAMSHA256},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "PLAIN", User: "u", Password: "p"}, mech: sarama.SASLTypePlaintext},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "GSSAPI", User: "u", Password: "p"}, wantErr: "unknown SASL mechanism"},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "PLAIN", Password: "p"}, wantErr: "needs a user"},
		{cfg: kafkaconf.SecurityConfig{Mechanism: "PLAIN", User: "u"}, wantErr: "password"},
		{cfg: kafkaconf.SecurityConfig{User: "u", Password: "p"}, wantErr: "no SASL mechanism"},
		{cfg: kafkaconf.SecurityConfig{CAFile: "/nonexistent/ca.pem"}, wantErr: "TLS CA file"},
		{cfg: kafkaconf.SecurityConfig{CertFile: "c.pem"}, wantErr: "certificate and its key go together"},
	} {
		sec, err := c.cfg.Security()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c.cfg, err)
			continue
		}
		k := kafkaconf.Kafka{Security: sec}
		sc, err := k.Sarama()
		if err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		if sc.Net.SASL.Enable != (c.mech != "") || sc.Net.SASL.Mechanism != c.mech && c.mech != "" {
			t.Errorf("%+v: SASL enable=%v mechanism=%q, want %q", c.cfg, sc.Net.SASL.Enable, sc.Net.SASL.Mechanism, c.mech)
		}
		if c.mech == sarama.SASLTypeSCRAMSHA256 || c.mech == sarama.SASLTypeSCRAMSHA512 {
			// The SCRAM client speaks the first message of RFC 5802.
			sc := sc.Net.SASL.SCRAMClientGeneratorFunc()
			if err := sc.Begin("u", "p", ""); err != nil {
				t.Fatal(err)
			}
			first, err := sc.Step("")
			if err != nil || !strings.HasPrefix(first, "n,,n=u,r=") {
				t.Errorf("SCRAM client-first %q, %v", first, err)
			}
		}
	}
}
