//go:build leakdemo

// Package leakdemo leaks on purpose: its test creates a labelled network
// of a sandbox and does not remove it, to show that `make test` names a
// package that leaves something behind. It builds only with the leakdemo
// tag, so the normal suite (go list ./...) never sees it:
//
//	GOFLAGS=-tags=leakdemo make test-packages PKGS=./internal/leftovers/leakdemo
package leakdemo

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness"
	"github.com/seatrial-dev/seatrial/harness/engine"
	"github.com/seatrial-dev/seatrial/harness/labels"
)

func TestLeakANetwork(t *testing.T) {
	ctx := t.Context()
	cli, err := engine.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	owner, err := labels.Self(labels.OwnerProcess)
	if err != nil {
		t.Fatal(err)
	}
	id := harness.NewID()
	l := owner.Labels()
	l[labels.Sandbox] = id
	l[labels.Role] = labels.RoleNetwork
	l[labels.Created] = time.Now().UTC().Format(time.RFC3339)
	if _, err := cli.NetworkCreate(ctx, id+"-leaked", client.NetworkCreateOptions{Driver: "bridge", Labels: l}); err != nil {
		t.Fatal(err)
	}
	// Deliberately no removal.
}
