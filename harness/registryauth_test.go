package harness_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/appconfig"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

// TestRegistryAuth: a sandbox made WithRegistryAuth has a registry that
// refuses anonymous requests with the mode's challenge (a basic realm, or
// a bearer realm at the sandbox's token issuer); the harness pushes and
// the engine pulls with the sandbox's credentials, which the engine does
// not have without them; the credentials are in a 0600 file and in no
// label; a reopened sandbox knows the mode from its labels and publishes
// with the file's credentials.
func TestRegistryAuth(t *testing.T) {
	t.Parallel()
	for _, mode := range harness.RegistryAuthModes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			sb := newSandbox(t, harness.WithRegistryAuth(mode))
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			require.Equal(t, mode, sb.RegistryAuth())
			creds, err := sb.RegistryCredentials()
			require.NoError(t, err)
			require.NotEmpty(t, creds.Password)

			tr, err := sb.RegistryTransport()
			require.NoError(t, err)
			st, hdr := get(t, ctx, &http.Client{Transport: tr, Timeout: 10 * time.Second}, sb.RegistryURL()+"/v2/")
			require.Equal(t, http.StatusUnauthorized, st, "an anonymous GET /v2/")
			challenge := hdr.Get("WWW-Authenticate")
			if mode == harness.RegistryAuthBasic {
				require.True(t, strings.HasPrefix(challenge, "Basic realm="), challenge)
			} else {
				require.Regexp(t, `^Bearer realm="https://localhost:\d+/token",service="seatrial-registry-`+sb.ID()+`"`, challenge)
			}

			fi, err := os.Stat(sb.RegistryCredentialsFile())
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the credentials' file")

			pub, err := sb.Publish(ctx, "app", "private", appconfig.Config{Version: "v1", Behaviour: appconfig.Healthy})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = sb.Client().ImageRemove(context.Background(), pub.Ref, client.ImageRemoveOptions{Force: true})
			})
			// The engine has no credentials of its own for the registry.
			resp, err := sb.Client().ImagePull(ctx, pub.Ref, client.ImagePullOptions{})
			if err == nil {
				err = resp.Wait(ctx)
			}
			require.Error(t, err, "an anonymous pull from the private registry")
			require.NoError(t, sb.Pull(ctx, pub.Ref), "the engine pulls with X-Registry-Auth")

			list, err := sb.Client().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labels.Sandbox+"="+sb.ID())})
			require.NoError(t, err)
			roles := map[string]bool{}
			for _, c := range list.Items {
				roles[c.Labels[labels.Role]] = true
				for k, v := range c.Labels {
					require.NotContains(t, v, creds.Password, "label %s of %s", k, c.Names)
				}
			}
			require.Equal(t, mode == harness.RegistryAuthToken, roles[labels.RoleTokenIssuer], "a token issuer runs for token auth only: %v", roles)

			re, err := harness.OpenSandbox(ctx, sb.Client(), sb.ID(), harness.WithImages(sb.Images()))
			require.NoError(t, err)
			require.Equal(t, mode, re.RegistryAuth(), "the reopened sandbox's auth (its label)")
			_, err = re.Publish(ctx, "app", "private2", appconfig.Config{Version: "v2", Behaviour: appconfig.Healthy})
			require.NoError(t, err, "publish from a reopened sandbox")
		})
	}
}
