package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A TTY node's log as the engine returns it with timestamps: one stamp a
// chunk, and a chunk may hold several lines (here the ready line has the
// stamp of the chunk that began two lines earlier).
func TestReadyTimeTakesTheChunksStamp(t *testing.T) {
	log := "2026-12-06T19:40:01.100000000Z systemd 252.39-1~deb12u1 running in system mode\r\n" +
		"2026-12-06T19:40:01.900000000Z [  OK  ] Started \x1b[0;1;39mseatrial-app.service\x1b[0m.\r\n" +
		"[  OK  ] Reached target \x1b[0;1;39mMulti-User System\x1b[0m.\r\n" +
		"2026-12-06T19:40:02.000000000Z [  OK  ] Reached target \x1b[0;1;39mGraphical Interface\x1b[0m.\r\n"
	got, err := readyTime(strings.NewReader(log))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 6, 19, 40, 1, 900_000_000, time.UTC), got)
}

func TestReadyTimeSaysWhenSystemdIsNotUp(t *testing.T) {
	_, err := readyTime(strings.NewReader("2026-12-06T19:40:01.1Z systemd 252 running in system mode\r\n"))
	require.ErrorContains(t, err, "systemd has not reached multi-user.target")
}
