package harness

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness/profile"
)

// TestUpdaterCredentials: the credentials reach the updater as its
// profile says, in variables or a 0600 config.json, and never in its
// arguments; wrong ones keep the user and change the password; missing
// ones are nothing at all.
func TestUpdaterCredentials(t *testing.T) {
	c := RegistryCredentials{Username: "seatrial", Password: "s3cret-pw"}
	env := profile.Watchtower()
	env.RegistryAuth = profile.RegistryAuth{Mode: profile.RegistryAuthEnv, UserEnv: "REPO_USER", PassEnv: "REPO_PASS"}
	vars, files, err := updaterCredentials(env, CredentialsRight, c, "localhost:5000")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"REPO_USER": "seatrial", "REPO_PASS": "s3cret-pw"}, vars)
	require.Empty(t, files)

	vars, _, err = updaterCredentials(env, CredentialsWrong, c, "localhost:5000")
	require.NoError(t, err)
	require.Equal(t, "seatrial", vars["REPO_USER"])
	require.NotEqual(t, "s3cret-pw", vars["REPO_PASS"])
	require.NotEmpty(t, vars["REPO_PASS"])

	vars, files, err = updaterCredentials(env, CredentialsNone, c, "localhost:5000")
	require.NoError(t, err)
	require.Empty(t, vars)
	require.Empty(t, files)

	cfg := profile.Reference()
	cfg.RegistryAuth = profile.RegistryAuth{Mode: profile.RegistryAuthConfigJSON, Path: "/etc/docker/config.json"}
	vars, files, err = updaterCredentials(cfg, CredentialsRight, c, "localhost:5000")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"DOCKER_CONFIG": "/etc/docker"}, vars)
	require.Len(t, files, 1)
	require.Equal(t, "/etc/docker/config.json", files[0].ContainerFilePath)
	require.Equal(t, int64(0o600), files[0].FileMode)
	b, err := io.ReadAll(files[0].Reader)
	require.NoError(t, err)
	var got struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	require.NoError(t, json.Unmarshal(b, &got))
	raw, err := base64.StdEncoding.DecodeString(got.Auths["localhost:5000"].Auth)
	require.NoError(t, err)
	require.Equal(t, "seatrial:s3cret-pw", string(raw))

	for _, p := range []Profile{env, cfg} {
		u := &Updater{profile: p, scope: "st-x"}
		require.NotContains(t, strings.Join(u.args(UpdaterOptions{}), " "), "s3cret-pw", "profile %s: the password in the updater's arguments", p.Name)
	}

	none := profile.Watchtower()
	none.RegistryAuth = profile.RegistryAuth{}
	_, _, err = updaterCredentials(none, CredentialsRight, c, "localhost:5000")
	require.ErrorContains(t, err, "has no registry_auth")
}

// TestEncodeEngineAuth: X-Registry-Auth is the AuthConfig's JSON in
// base64url, as the engine decodes it.
func TestEncodeEngineAuth(t *testing.T) {
	s, err := encodeEngineAuth(RegistryCredentials{Username: "u", Password: "p?>"}, "localhost:5000")
	require.NoError(t, err)
	b, err := base64.URLEncoding.DecodeString(s)
	require.NoError(t, err)
	require.JSONEq(t, `{"username":"u","password":"p?>","serveraddress":"localhost:5000"}`, string(b))
}
