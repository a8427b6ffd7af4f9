package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/client"

	"github.com/seatrial-dev/seatrial/harness/engine"
)

// readiness bounds one readiness wait: how long in all, and the backoff's
// first and longest interval between checks.
type readiness struct {
	bound, first, longest time.Duration
}

// waitReady calls check with exponential backoff until it returns nil,
// until it returns an error wrapped with backoff.Permanent (a contradiction:
// what is waited for cannot happen any more), or until r.bound has passed
// or ctx ended. The error says what was waited for and how the last check
// failed.
func waitReady(ctx context.Context, what string, r readiness, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.bound)
	defer cancel()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = r.first, r.longest
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = check(ctx)
		return struct{}{}, last
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(r.bound))
	if err == nil {
		return nil
	}
	var permanent *backoff.PermanentError
	if errors.As(last, &permanent) {
		return fmt.Errorf("waiting for %s: %w", what, permanent.Unwrap())
	}
	if ctx.Err() != nil && !errors.Is(last, ctx.Err()) {
		return fmt.Errorf("waiting for %s: not within %s (last check: %v): %w", what, r.bound, last, ctx.Err())
	}
	return fmt.Errorf("waiting for %s: not within %s: %w", what, r.bound, last)
}

// waitServes waits as waitReady does until check passes for a service of
// the container id, named who ("the registry"): the container exiting
// fails the wait at once (it will not answer), and a failed wait carries
// the tail of its log.
func waitServes(ctx context.Context, cli *client.Client, id, who, what string, r readiness, check func(context.Context) error) error {
	err := waitReady(ctx, what, r, func(ctx context.Context) error {
		err := check(ctx)
		if err == nil {
			return nil
		}
		return errors.Join(err, exited(ctx, cli, id))
	})
	if err != nil {
		logs, _ := engine.Logs(context.WithoutCancel(ctx), cli, id)
		return fmt.Errorf("%w\n%s's log:\n%s", err, who, tail(logs, 20))
	}
	return nil
}
