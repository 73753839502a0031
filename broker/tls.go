package broker

import (
	"crypto/tls"
	"errors"

	"github.com/streamrls/streamrls/kafkaconf"
)

// ServerTLS builds the broker's TLS config (for kfake.TLS) from its
// certificate and key; a caFile makes the broker require client
// certificates signed by it.
func ServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a TLS broker needs a certificate and its key")
	}
	cert, err := kafkaconf.LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if caFile != "" {
		pool, err := kafkaconf.LoadCAs(caFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
