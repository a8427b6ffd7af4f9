package engine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReachOf(t *testing.T) {
	for _, tc := range []struct {
		daemon, host, bind string
		remote             bool
	}{
		{"unix:///var/run/docker.sock", "127.0.0.1", "127.0.0.1", false},
		{"npipe:////./pipe/docker_engine", "127.0.0.1", "127.0.0.1", false},
		{"tcp://127.0.0.1:2375", "127.0.0.1", "127.0.0.1", false},
		{"tcp://localhost:2375", "127.0.0.1", "127.0.0.1", false},
		{"tcp://10.231.0.2:2375", "10.231.0.2", "10.231.0.2", true},
		{"tcp://[fd00::2]:2376", "fd00::2", "fd00::2", true},
		{"ssh://me@build-box", "build-box", "0.0.0.0", true},
		{"tcp://engine.example:2376", "engine.example", "0.0.0.0", true},
	} {
		r := ReachOf(tc.daemon)
		assert.Equal(t, [3]any{tc.host, tc.bind, tc.remote}, [3]any{r.Host, r.Bind.String(), r.Remote()}, tc.daemon)
	}
	assert.Equal(t, "[127.0.0.1]", fmt.Sprint(ReachOf("unix:///var/run/docker.sock").Bindings()))
	assert.Equal(t, "[10.231.0.2 127.0.0.1]", fmt.Sprint(ReachOf("tcp://10.231.0.2:2375").Bindings()), "the engine pulls its sandbox registry on its loopback")
	assert.Equal(t, "[0.0.0.0]", fmt.Sprint(ReachOf("ssh://me@build-box").Bindings()))
	assert.Equal(t, "[fd00::2]:5000", ReachOf("tcp://[fd00::2]:2376").Dial("5000"))
}
