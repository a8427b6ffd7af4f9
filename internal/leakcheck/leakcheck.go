// Package leakcheck finds registry credentials and bearer tokens in text
// seatrial wrote or showed (artifacts, logs, process listings, container
// configurations), for the tests that promise none is there. What it
// reports names the kind of secret and where, never the secret itself: a
// failing test's output must not leak it either.
package leakcheck

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// jwt matches a compact JWS whose header and claims are JSON objects
// ("eyJ" is base64url of `{"`): any token a token issuer hands out.
var jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)

// Secrets are the forms a registry user's password travels in, each with
// its name: the password itself, the basic auth value (base64 of
// user:password), and the Engine API's X-Registry-Auth (base64url of the
// AuthConfig JSON, as seatrial and watchtower encode it).
type Secrets map[string]string

// Of returns the forms of user's password on server.
func Of(user, password, server string) Secrets {
	s := Secrets{
		"the password":                     password,
		"the basic auth value":             base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		"the basic auth value (base64url)": base64.URLEncoding.EncodeToString([]byte(user + ":" + password)),
	}
	for i, v := range []any{
		map[string]string{"username": user, "password": password, "serveraddress": server},
		map[string]string{"username": user, "password": password},
	} {
		b, _ := json.Marshal(v)
		s[fmt.Sprintf("an X-Registry-Auth value (%d)", i+1)] = base64.URLEncoding.EncodeToString(b)
	}
	return s
}

// Find says which secrets, and whether a JWT, are in text, as "<kind> in
// <where>"; nil when none is.
func (s Secrets) Find(where, text string) []string {
	var found []string
	for name, v := range s {
		if v != "" && strings.Contains(text, v) {
			found = append(found, name+" in "+where)
		}
	}
	sort.Strings(found)
	if n := len(jwt.FindAllStringIndex(text, -1)); n > 0 {
		found = append(found, fmt.Sprintf("%d bearer token(s) (JWT) in %s", n, where))
	}
	return found
}
