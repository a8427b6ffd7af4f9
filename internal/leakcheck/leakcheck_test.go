package leakcheck

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFind: each form of the password, and a token, is found, and named
// without the secret; text without them finds nothing.
func TestFind(t *testing.T) {
	s := Of("seatrial", "0123456789abcdef", "localhost:5000")
	require.Empty(t, s.Find("x", "user seatrial logged in; the token issuer issued a token"))
	require.Equal(t, []string{"the password in log"}, s.Find("log", "pw=0123456789abcdef"))
	basic := base64.StdEncoding.EncodeToString([]byte("seatrial:0123456789abcdef"))
	require.Contains(t, s.Find("log", "Authorization: Basic "+basic), "the basic auth value in log")
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJzZWF0cmlhbCJ9.MEUCIQDx3z2n8M4c0rKf1vJ5"
	found := s.Find("artifact", "token="+jwt)
	require.Equal(t, []string{"1 bearer token(s) (JWT) in artifact"}, found)
	for _, f := range found {
		require.NotContains(t, f, "0123456789abcdef")
	}
}
