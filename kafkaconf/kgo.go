package kafkaconf

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KgoOptions are the franz-go options of a client with this configuration:
// the seed brokers and the security that Security applies to sarama's
// clients. Readers add kgo.FetchIsolationLevel(kgo.ReadCommitted()), as
// sarama's clients read (Sarama).
func (k Kafka) KgoOptions() ([]kgo.Opt, error) {
	k = k.WithDefaults()
	sc, err := k.Sarama()
	if err != nil {
		return nil, err
	}
	sec, err := KgoSecurity(sc)
	if err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...)}, sec...), nil
}

// KgoSecurity turns the SASL and TLS settings that Security applied to sc
// into franz-go options.
func KgoSecurity(sc *sarama.Config) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if sc.Net.TLS.Enable {
		opts = append(opts, kgo.DialTLSConfig(sc.Net.TLS.Config.Clone()))
	}
	if !sc.Net.SASL.Enable {
		return opts, nil
	}
	user, pass := sc.Net.SASL.User, sc.Net.SASL.Password
	var mech sasl.Mechanism
	switch sc.Net.SASL.Mechanism {
	case sarama.SASLTypePlaintext:
		mech = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case sarama.SASLTypeSCRAMSHA256:
		mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case sarama.SASLTypeSCRAMSHA512:
		mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("SASL mechanism %q: not supported by the franz-go clients", sc.Net.SASL.Mechanism)
	}
	return append(opts, kgo.SASL(mech)), nil
}
