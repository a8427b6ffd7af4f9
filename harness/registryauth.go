package harness

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/api/types/registry"
	"github.com/testcontainers/testcontainers-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/images"
	"github.com/seatrial-dev/seatrial/harness/labels"
	"github.com/seatrial-dev/seatrial/harness/profile"
)

// How a sandbox's registry wants clients to authenticate
// (WithRegistryAuth); the default is not at all.
const (
	// RegistryAuthBasic: HTTP basic auth, checked against a bcrypt
	// htpasswd file (distribution's htpasswd access controller).
	RegistryAuthBasic = "basic"
	// RegistryAuthToken: the bearer token flow (distribution's token
	// access controller): the registry answers 401 with a realm, the
	// sandbox's token issuer (fixtures/tokenissuer) hands out JWTs for
	// good credentials, signed with a key the registry trusts.
	RegistryAuthToken = "token"
)

// RegistryAuthModes are the values WithRegistryAuth takes (a new slice
// each call: no package state a caller could change).
func RegistryAuthModes() []string { return []string{RegistryAuthBasic, RegistryAuthToken} }

// WithRegistryAuth makes the sandbox's registry require credentials, by
// mode (RegistryAuthBasic or RegistryAuthToken). The credentials are made
// for the sandbox (random), written to its state dir (0600), and given to
// its updater as its profile's registry_auth says; the harness's own pushes
// and the engine's pulls send them (the engine in X-Registry-Auth, so the
// host's Docker config is never touched). The descriptor records the mode
// only. Other modes are refused by NewSandbox.
func WithRegistryAuth(mode string) Option { return func(c *sandboxConfig) { c.registryAuth = mode } }

// RegistryCredentials are a user of a sandbox's registry.
type RegistryCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// registryCredentialsFile is the credentials' file in the state dir.
const registryCredentialsFile = "registry-credentials.json"

// Paths of the auth files inside the registry's and the token issuer's
// containers (copied in before they start, like the TLS files).
const (
	authHtpasswdPath   = "/auth/htpasswd"
	authSignerCertPath = "/auth/token-signer.crt"
	authSignerKeyPath  = "/auth/token-signer.key"
)

// registryAuth is what a sandbox's registry authenticates with, while it
// is being made: the credentials, their htpasswd, and for the token flow
// the signing key and certificate and the issuer's port (the same inside
// the namespace and on the host, as the registry's, so that the realm
// https://localhost:T/token means the issuer for the engine and the
// updater alike).
type registryAuth struct {
	mode     string
	creds    RegistryCredentials
	htpasswd []byte
	// token flow only
	signerCertPEM, signerKeyPEM []byte
	tokenPort                   int
}

// newRegistryAuth makes the credentials of a sandbox: the user
// "seatrial", a random 24-byte password (hex), its bcrypt hash, and for
// the token flow an ECDSA signing key with a self-signed certificate
// (the registry's rootcertbundle). bcrypt's minimum cost: distribution
// checks the hash on every request, and at the default cost (10) a pull of
// a node image spent about a second in it on two cores; a random password
// gains nothing from a slow hash.
func newRegistryAuth(sandboxID, mode string) (*registryAuth, error) {
	var pw [24]byte
	_, _ = rand.Read(pw[:])
	a := &registryAuth{mode: mode, creds: RegistryCredentials{Username: "seatrial", Password: hex.EncodeToString(pw[:])}}
	hash, err := bcrypt.GenerateFromPassword([]byte(a.creds.Password), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("registry htpasswd: %w", err)
	}
	a.htpasswd = []byte(a.creds.Username + ":" + string(hash) + "\n")
	if mode != RegistryAuthToken {
		return a, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"seatrial"}, CommonName: "seatrial sandbox " + sandboxID + " token signer"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		// Its own root: distribution verifies the x5c chain against the
		// rootcertbundle, which holds this certificate alone.
		IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("token signing certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	a.signerCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	a.signerKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return a, nil
}

// tokenService and tokenIssuerName are the token flow's service and
// issuer names, the same in the registry's configuration and the issuer's.
func tokenService(sandboxID string) string    { return "seatrial-registry-" + sandboxID }
func tokenIssuerName(sandboxID string) string { return "seatrial-tokenissuer-" + sandboxID }

// realm is the token issuer's URL, as the registry's challenge names it.
func (a *registryAuth) realm(scheme string) string {
	return scheme + "://localhost:" + strconv.Itoa(a.tokenPort) + "/token"
}

// registryEnv is the registry's configuration for the mode (distribution
// reads REGISTRY_AUTH=<controller> and its options from the environment;
// none of them is a secret).
func (a *registryAuth) registryEnv(sandboxID, scheme string) map[string]string {
	if a.mode == RegistryAuthBasic {
		return map[string]string{
			"REGISTRY_AUTH":                "htpasswd",
			"REGISTRY_AUTH_HTPASSWD_REALM": "seatrial sandbox " + sandboxID,
			"REGISTRY_AUTH_HTPASSWD_PATH":  authHtpasswdPath,
		}
	}
	return map[string]string{
		"REGISTRY_AUTH":                      "token",
		"REGISTRY_AUTH_TOKEN_REALM":          a.realm(scheme),
		"REGISTRY_AUTH_TOKEN_SERVICE":        tokenService(sandboxID),
		"REGISTRY_AUTH_TOKEN_ISSUER":         tokenIssuerName(sandboxID),
		"REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": authSignerCertPath,
	}
}

// registryFiles are the files the registry needs for the mode: the
// htpasswd (hashes, not the password) or the signer's certificate.
func (a *registryAuth) registryFiles() []testcontainers.ContainerFile {
	if a.mode == RegistryAuthBasic {
		return []testcontainers.ContainerFile{{Reader: bytes.NewReader(a.htpasswd), ContainerFilePath: authHtpasswdPath, FileMode: 0o600}}
	}
	return []testcontainers.ContainerFile{{Reader: bytes.NewReader(a.signerCertPEM), ContainerFilePath: authSignerCertPath, FileMode: 0o644}}
}

// startTokenIssuer runs the token issuer in the sandbox's namespace on
// the token port, over TLS with the registry's certificate when the
// registry has one. Its secrets (the htpasswd, the signing key) are files
// copied in; its arguments are paths and names only.
func (r *Registry) startTokenIssuer(ctx context.Context, e partEnv, set *images.Set) error {
	img, err := set.Get(images.TokenIssuer)
	if err != nil {
		return err
	}
	a := r.auth
	args := []string{
		"--listen", ":" + strconv.Itoa(a.tokenPort),
		"--htpasswd", authHtpasswdPath,
		"--key", authSignerKeyPath,
		"--cert", authSignerCertPath,
		"--issuer", tokenIssuerName(e.desc.ID),
		"--service", tokenService(e.desc.ID),
	}
	files := []testcontainers.ContainerFile{
		{Reader: bytes.NewReader(a.htpasswd), ContainerFilePath: authHtpasswdPath, FileMode: 0o600},
		{Reader: bytes.NewReader(a.signerKeyPEM), ContainerFilePath: authSignerKeyPath, FileMode: 0o600},
		{Reader: bytes.NewReader(a.signerCertPEM), ContainerFilePath: authSignerCertPath, FileMode: 0o644},
	}
	if r.pki != nil {
		args = append(args, "--tls-cert", registryCertPath, "--tls-key", registryKeyPath)
		files = append(files, r.pki.serverFiles()...)
	}
	// In the registry's namespace: localhost:T is the issuer for the
	// updater there and, published, for the engine.
	r.tokenIssuerID, err = r.runBeside(ctx, e, img.Ref, labels.RoleTokenIssuer, args, files)
	if err != nil {
		return fmt.Errorf("start token issuer: %w", err)
	}
	return nil
}

// waitTokenIssuer polls the realm with the sandbox's credentials until it
// issues a token: the whole flow works before anyone pushes.
func (r *Registry) waitTokenIssuer(ctx context.Context) error {
	tr, err := r.Transport()
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: tr}
	u := r.scheme() + "://" + engine.ReachOf(r.cli.DaemonHost()).Dial(strconv.Itoa(r.auth.tokenPort)) + "/token"
	return waitServes(ctx, r.cli, r.tokenIssuerID, "the token issuer", "the token issuer to answer GET "+u, registryReady, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(r.auth.creds.Username, r.auth.creds.Password)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// writeRegistryCredentials keeps the credentials in the state dir, 0600:
// a reopened sandbox (seatrial publish, scan) reads them there.
func writeRegistryCredentials(stateDir string, c RegistryCredentials) error {
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(stateDir, registryCredentialsFile), b, 0o600); err != nil {
		return fmt.Errorf("write the registry's credentials: %w", err)
	}
	return nil
}

// readRegistryCredentials reads what writeRegistryCredentials wrote.
func readRegistryCredentials(stateDir string) (*RegistryCredentials, error) {
	if stateDir == "" {
		return nil, errors.New("its state dir is not on this host (the credentials live on the host that made the sandbox)")
	}
	b, err := os.ReadFile(filepath.Join(stateDir, registryCredentialsFile))
	if err != nil {
		return nil, err
	}
	var c RegistryCredentials
	if err := json.Unmarshal(b, &c); err != nil || c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("%s: not the credentials seatrial wrote", filepath.Join(stateDir, registryCredentialsFile))
	}
	return &c, nil
}

// RegistryAuth is how the sandbox's registry wants clients to
// authenticate: "" (anonymous), RegistryAuthBasic or RegistryAuthToken.
func (sb *Sandbox) RegistryAuth() string { return sb.desc.Registry.Auth }

// RegistryCredentials are the credentials of the sandbox's registry
// (from the state dir for a reopened sandbox), or nil for an anonymous
// registry. For tests and tools that must speak to the registry; never
// print them.
func (sb *Sandbox) RegistryCredentials() (*RegistryCredentials, error) {
	if sb.desc.Registry.Auth == "" {
		return nil, nil
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.registryCreds == nil {
		c, err := readRegistryCredentials(sb.stateDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox %s: its registry wants credentials (%s), and they cannot be read: %w", sb.desc.ID, sb.desc.Registry.Auth, err)
		}
		sb.registryCreds = c
	}
	c := *sb.registryCreds
	return &c, nil
}

// RegistryCredentialsFile is the host path of the registry's credentials
// (JSON, 0600) in the sandbox's state dir, or "" for an anonymous
// registry or a state dir not on this host.
func (sb *Sandbox) RegistryCredentialsFile() string {
	if sb.desc.Registry.Auth == "" || sb.stateDir == "" {
		return ""
	}
	return filepath.Join(sb.stateDir, registryCredentialsFile)
}

// pushAuth is the authenticator of the harness's pushes.
func (sb *Sandbox) pushAuth() (authn.Authenticator, error) {
	c, err := sb.RegistryCredentials()
	if err != nil || c == nil {
		return authn.Anonymous, err
	}
	return &authn.Basic{Username: c.Username, Password: c.Password}, nil
}

// engineAuth is the X-Registry-Auth value of the engine's pulls from the
// sandbox's registry ("" when it is anonymous): the engine logs in with
// it per pull, so no `docker login` touches the host's configuration.
func (sb *Sandbox) engineAuth() (string, error) {
	c, err := sb.RegistryCredentials()
	if err != nil || c == nil {
		return "", err
	}
	return encodeEngineAuth(*c, sb.desc.Registry.Addr)
}

// encodeEngineAuth is the Engine API's X-Registry-Auth: the AuthConfig
// as JSON, base64url.
func encodeEngineAuth(c RegistryCredentials, server string) (string, error) {
	b, err := json.Marshal(registry.AuthConfig{Username: c.Username, Password: c.Password, ServerAddress: server})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// Credentials says which registry credentials an updater is given when
// its sandbox's registry wants some (UpdaterOptions.Credentials).
type Credentials int

const (
	// CredentialsRight: the sandbox's own (the default).
	CredentialsRight Credentials = iota
	// CredentialsWrong: the sandbox's user with a random wrong password.
	CredentialsWrong
	// CredentialsNone: none at all.
	CredentialsNone
)

func (c Credentials) String() string {
	return [...]string{"right", "wrong", "missing"}[c]
}

// updaterCredentials is what startUpdater gives the updater: the
// variables to set and the files to copy in, as the profile's
// registry_auth says. Env values and the file's content are secrets: they
// go into the container's environment or a 0600 file, never its command
// line or labels.
func updaterCredentials(p Profile, which Credentials, c RegistryCredentials, server string) (map[string]string, []testcontainers.ContainerFile, error) {
	ra := p.RegistryAuth
	if ra.Mode == "" {
		return nil, nil, fmt.Errorf("updater profile %s has no registry_auth: it cannot be given the credentials the sandbox's registry wants", p.Name)
	}
	switch which {
	case CredentialsNone:
		return nil, nil, nil
	case CredentialsWrong:
		var pw [24]byte
		_, _ = rand.Read(pw[:])
		c.Password = hex.EncodeToString(pw[:])
	}
	switch ra.Mode {
	case profile.RegistryAuthEnv:
		return map[string]string{ra.UserEnv: c.Username, ra.PassEnv: c.Password}, nil, nil
	case profile.RegistryAuthConfigJSON:
		// A Docker config.json: "auths" keyed by the registry's host:port,
		// "auth" base64(user:pass), as `docker login` writes it.
		cfg := map[string]any{"auths": map[string]any{server: map[string]string{
			"auth": base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password)),
		}}}
		b, _ := json.Marshal(cfg)
		// DOCKER_CONFIG names the directory, as the Docker CLI's config
		// loader (which watchtower uses) reads it.
		env := map[string]string{"DOCKER_CONFIG": path.Dir(ra.ConfigPath())}
		// Copied in, not bind-mounted from the host: the image may be
		// FROM scratch and the engine may not share this file system.
		return env, []testcontainers.ContainerFile{{Reader: bytes.NewReader(b), ContainerFilePath: ra.ConfigPath(), FileMode: 0o600}}, nil
	}
	return nil, nil, fmt.Errorf("updater profile %s: registry_auth.mode %q", p.Name, ra.Mode)
}
