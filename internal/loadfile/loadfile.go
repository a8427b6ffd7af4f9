// Package loadfile reads a configuration file and parses it, with errors
// that say which kind of file it was and wrap the cause. The app's
// configuration (harness/appconfig) and custom updater profiles
// (harness/profile) load through it.
package loadfile

import (
	"fmt"
	"os"
)

// Parse reads the file at path and parses its bytes with parse. what
// names the kind of file in errors ("updater profile"): "read what: ..."
// when it cannot be read, "what PATH: ..." when it does not parse.
func Parse[T any](path, what string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", what, err)
	}
	v, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return v, nil
}
