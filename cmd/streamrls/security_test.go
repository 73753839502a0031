package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamrls/streamrls/emitter"
	"github.com/streamrls/streamrls/internal/testkit"
	"github.com/streamrls/streamrls/kafkaconf"
	"github.com/streamrls/streamrls/rls"
	"github.com/streamrls/streamrls/rls/rlstest"
	"github.com/streamrls/streamrls/topology"
	"github.com/streamrls/streamrls/view"
)

// TestSASLSCRAM: `streamrls broker` requires SCRAM-SHA-256; every role
// with a wrong password (or none) stops within seconds with an error naming
// authentication, and with the right one (from a file and from the
// environment) everything is processed.
func TestSASLSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	pwFile := writeFile(t, "password", "s3cret-pass\n")
	_, addr := startBroker(t, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "alice", "--sasl-password-file", pwFile)
	sasl := []string{"--brokers", addr, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "alice"}

	wrong := append(append([]string{}, sasl...), "--sasl-password", "not-the-password")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"emit wrong password", append([]string{"emit", "--count", "10"}, wrong...)},
		{"process wrong password", append([]string{"process", "--state-dir", t.TempDir()}, wrong...)},
		{"replay wrong password", append([]string{"replay", "--group", "rls-v2", "--state-dir", t.TempDir()}, wrong...)},
		{"serve wrong password", append([]string{"serve", "--state-dir", t.TempDir(), "--http", "127.0.0.1:0"}, wrong...)},
		{"process without SASL", []string{"process", "--brokers", addr, "--state-dir", t.TempDir()}},
	} {
		p, code, took := run(t, c.name, 30*time.Second, nil, c.args...)
		msg := p.Stderr.String()
		t.Logf("%s: exit %d after %v: %s", c.name, code, took.Round(time.Millisecond), lastLine(msg))
		if code != 1 || took > 15*time.Second || !strings.Contains(msg, "authentication failed") {
			t.Errorf("%s: exit %d after %v, want exit 1 within 15s naming authentication; stderr:\n%s", c.name, code, took, testkit.Tail(msg, 10))
		}
	}

	// The right password: from the environment for emit, from a file for
	// process.
	const sensors, dim, count, seed = 4, 3, 4000, 3
	p, code, took := run(t, "emit", 30*time.Second, []string{"STREAMRLS_SASL_PASSWORD=s3cret-pass"},
		append([]string{"emit", "--sensors", fmt.Sprint(sensors), "--dim", fmt.Sprint(dim), "--count", fmt.Sprint(count), "--seed", fmt.Sprint(seed)}, sasl...)...)
	if code != 0 {
		t.Fatalf("emit with the right password: exit %d after %v:\n%s", code, took, testkit.Tail(p.Stderr.String(), 10))
	}
	start(t, "process", nil, append([]string{"process", "--state-dir", t.TempDir(), "--session-timeout", "2s", "--sasl-password-file", pwFile}, sasl...)...)

	sec, err := kafkaconf.SecurityConfig{Mechanism: "SCRAM-SHA-256", User: "alice", Password: "s3cret-pass"}.Security()
	if err != nil {
		t.Fatal(err)
	}
	checkProcessed(t, kafkaconf.Kafka{Brokers: []string{addr}, Security: sec}, sensors, dim, count, seed)
}

// TestTLSWithSASLPlain: a broker that requires TLS with client
// certificates and SASL PLAIN; a client that does not trust the broker's CA,
// or has no client certificate, stops at once; the right one round-trips
// every sample.
func TestTLSWithSASLPlain(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	pki := newPKI(t)
	pwFile := writeFile(t, "password", "bobs-password")
	_, addr := startBroker(t, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-ca", pki.ca,
		"--sasl-mechanism", "PLAIN", "--sasl-user", "bob", "--sasl-password-file", pwFile)
	base := []string{"--brokers", addr, "--sasl-mechanism", "PLAIN", "--sasl-user", "bob", "--sasl-password-file", pwFile}
	good := append(append([]string{}, base...), "--tls-ca", pki.ca, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey)

	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"emit trusting another CA", "TLS handshake", append([]string{"emit", "--count", "10", "--tls-ca", pki.rogueCA, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey}, base...)},
		{"emit without a client certificate", "--tls-cert and --tls-key", append([]string{"emit", "--count", "10", "--tls-ca", pki.ca}, base...)},
		{"emit without TLS", "plaintext connection to a TLS listener", append([]string{"emit", "--count", "10"}, base...)},
	} {
		p, code, took := run(t, c.name, 30*time.Second, nil, c.args...)
		msg := p.Stderr.String()
		t.Logf("%s: exit %d after %v: %s", c.name, code, took.Round(time.Millisecond), lastLine(msg))
		if code != 1 || took > 15*time.Second || !strings.Contains(msg, c.want) {
			t.Errorf("%s: exit %d after %v, want exit 1 within 15s naming %q; stderr:\n%s", c.name, code, took, c.want, testkit.Tail(msg, 10))
		}
	}

	const sensors, dim, count, seed = 3, 3, 3000, 4
	p, code, took := run(t, "emit", 30*time.Second, nil,
		append([]string{"emit", "--sensors", fmt.Sprint(sensors), "--dim", fmt.Sprint(dim), "--count", fmt.Sprint(count), "--seed", fmt.Sprint(seed)}, good...)...)
	if code != 0 {
		t.Fatalf("emit over TLS: exit %d after %v:\n%s", code, took, testkit.Tail(p.Stderr.String(), 10))
	}
	start(t, "process", nil, append([]string{"process", "--state-dir", t.TempDir(), "--session-timeout", "2s"}, good...)...)

	sec, err := kafkaconf.SecurityConfig{Mechanism: "PLAIN", User: "bob", Password: "bobs-password",
		CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey}.Security()
	if err != nil {
		t.Fatal(err)
	}
	checkProcessed(t, kafkaconf.Kafka{Brokers: []string{addr}, Security: sec}, sensors, dim, count, seed)
}

// checkProcessed waits until a view (with kc's credentials) shows every
// sensor with all its samples, and checks the default models against the
// oracle.
func checkProcessed(t *testing.T, kc kafkaconf.Kafka, sensors, dim int, count int64, seed uint64) {
	t.Helper()
	kc.SessionTimeout = 2 * time.Second
	kc = kc.WithDefaults()
	ctx := testkit.Context(t, time.Minute)
	var v *view.View
	testkit.Eventually(t, 20*time.Second, func() (err error) {
		v, err = view.New(view.Config{Group: topology.DefaultGroup, Kafka: kc, StateDir: t.TempDir()})
		return err
	})
	go v.Run(ctx)
	xs, ys := testkit.SensorSamples(sensors, dim, count, seed)
	testkit.WaitSamples(t, v, ys, 30*time.Second)
	for i := range sensors {
		s, _, _ := v.Get(emitter.SensorID(i))
		for j, m := range s.Bank.Models {
			theta, _, err := rlstest.Oracle(rls.DefaultSpecs()[j], xs[i], ys[i])
			if err != nil {
				t.Fatal(err)
			}
			if e := testkit.RelErr(m.Theta, theta); e > 1e-9 {
				t.Errorf("sensor %s %s: θ off the oracle by %.3g relative", s.ID, m.Name, e)
			}
		}
	}
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

// pki is a CA, a broker certificate for 127.0.0.1 and a client certificate
// signed by it, and an unrelated CA; all PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey, rogueCA string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	serial := int64(0)
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		}
	}
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		tpl := template(cn)
		tpl.IsCA, tpl.BasicConstraintsValid = true, true
		tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, der
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string) (string, string) {
		k := newKey()
		tpl := template(cn)
		tpl.KeyUsage = x509.KeyUsageDigitalSignature
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tpl.DNSNames = []string{"localhost"}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kb)
	}
	ca, caKey, caDER := newCA("streamrls test CA")
	_, _, rogueDER := newCA("some other CA")
	var p pki
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	p.rogueCA = write("rogue-ca.pem", "CERTIFICATE", rogueDER)
	p.serverCert, p.serverKey = leaf("broker", x509.ExtKeyUsageServerAuth, ca, caKey, "server")
	p.clientCert, p.clientKey = leaf("client", x509.ExtKeyUsageClientAuth, ca, caKey, "client")
	return p
}
