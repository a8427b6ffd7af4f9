package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// Where the registry (or the fault proxy in front of it) finds its
// certificate and key (copied into its container before it starts; the
// images are FROM scratch, so they are copied through the engine's archive
// API, not mounted from the host).
const (
	registryCertPath = "/certs/registry.crt"
	registryKeyPath  = "/certs/registry.key"
)

// registryPKI is what a sandbox's registry serves TLS with: a CA made for
// the sandbox and a server certificate it signed, all PEM. Only the CA
// certificate leaves the process (the namespace holder's label, the
// updater's trust file); the keys go into the registry container alone.
type registryPKI struct {
	caPEM, certPEM, keyPEM []byte
}

// newRegistryPKI makes a CA (ECDSA P-256, valid from an hour ago for a
// week: a sandbox made by `seatrial up` may live for days) and a server
// certificate for the given names (DNS names or IP addresses) and for
// 127.0.0.1 and ::1.
func newRegistryPKI(sandboxID string, names []string) (registryPKI, error) {
	var dnsNames []string
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, n)
		}
	}
	notBefore := time.Now().Add(-time.Hour) // a host clock a little ahead of the container's
	notAfter := notBefore.Add(7 * 24 * time.Hour)
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"seatrial"}, CommonName: "seatrial sandbox " + sandboxID + " CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caCert, caKey, err := issue("registry CA", ca, nil, nil)
	if err != nil {
		return registryPKI{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"seatrial"}, CommonName: "localhost"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	cert, key, err := issue("registry", leaf, caCert, caKey)
	if err != nil {
		return registryPKI{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return registryPKI{}, fmt.Errorf("registry key: %w", err)
	}
	return registryPKI{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// issue makes a P-256 key and a certificate of it from tmpl, signed by
// parent's key; with no parent, by its own (a CA). Errors name what.
func issue(what string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%s key: %w", what, err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", what, err)
	}
	return cert, key, nil
}

// serverFiles are the certificate and key, to copy into the container
// that serves the registry's address.
func (p *registryPKI) serverFiles() []testcontainers.ContainerFile {
	return []testcontainers.ContainerFile{
		{Reader: bytes.NewReader(p.certPEM), ContainerFilePath: registryCertPath, FileMode: 0o644},
		{Reader: bytes.NewReader(p.keyPEM), ContainerFilePath: registryKeyPath, FileMode: 0o600},
	}
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)) // crypto/rand never fails on Linux
	return n
}

// registryTransport is an HTTP transport that trusts caPEM alone (for a
// TLS registry), or the default transport's clone (caPEM empty: plain
// HTTP).
func registryTransport(caPEM []byte) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(caPEM) == 0 {
		return tr, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the registry's CA: no PEM certificate in it")
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
