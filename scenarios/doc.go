// Package scenarios holds drydock's scenario suite: real update flows,
// each in its own sandbox, run against every updater profile that has the
// capabilities the flow needs, and asserted both on the world (digests,
// container ids, systemd units) and on the sandbox's metrics as the
// metrics server reports them.
//
// Run it with `make scenarios` (a readable summary) or
// `go test ./scenarios`. DRYDOCK_PROFILES selects profiles (comma
// separated names, or paths of profile files ending in .json; default
// "watchtower-1.7.1,reference"); DRYDOCK_UPDATER_IMAGE adds a custom
// updater (see harness.ProfileFromEnv); DRYDOCK_ARTIFACTS is where a
// failed scenario's artifacts go.
package scenarios
