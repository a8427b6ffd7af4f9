package loadfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var errBad = errors.New("not a number")

func parseDigit(b []byte) (int, error) {
	if len(b) != 1 || b[0] < '0' || b[0] > '9' {
		return 0, errBad
	}
	return int(b[0] - '0'), nil
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(good, []byte("7"), 0o644))
	require.NoError(t, os.WriteFile(bad, []byte("x"), 0o644))

	v, err := Parse(good, "digit file", parseDigit)
	require.NoError(t, err)
	require.Equal(t, 7, v)

	_, err = Parse(bad, "digit file", parseDigit)
	require.ErrorIs(t, err, errBad)
	require.EqualError(t, err, "digit file "+bad+": not a number")

	_, err = Parse(filepath.Join(dir, "absent"), "digit file", parseDigit)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "read digit file: ")
}
