package metricclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// TestParallelParseIsSerialParse: cutting the text into pieces gives the
// families a serial parse gives, for every number of pieces.
func TestParallelParseIsSerialParse(t *testing.T) {
	var all []string
	files, _ := filepath.Glob(filepath.Join("..", "fixtures", "testdata", "metrics", "*.prom"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		all = append(all, string(b))
	}
	bench, _ := benchExposition()
	texts := map[string]string{
		"fixtures-concatenated-distinct": all[1] + all[2], // watchtower fork + registry: no family in both
		"bench":                          bench,
		"help-after-samples":             "# TYPE a counter\na 1\n# HELP a late help\n# TYPE b gauge\nb 2\n# HELP c x\nc 3\n",
		"split-family":                   "a 1\n# TYPE b gauge\nb 2\na 3\n",
		"histogram-then-other":           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n# TYPE hx gauge\nhx 1\n# TYPE z gauge\nz 1\n",
		"broken-late":                    "# TYPE a gauge\na 1\n# TYPE b gauge\nb{ 2\n",
	}
	for _, f := range all {
		texts[filepath.Base(f)] = f
	}
	for name, text := range texts {
		p := expfmt.NewTextParser(model.UTF8Validation)
		want, wantErr := p.TextToMetricFamilies(strings.NewReader(text))
		for n := 2; n <= 6; n++ {
			got, err := parseTextPieces(text, splitFamilies(text, n, 0))
			if wantErr != nil {
				require.Error(t, err, name)
				require.Equal(t, wantErr.Error(), err.Error(), name)
				continue
			}
			require.NoError(t, err, name)
			require.Len(t, got, len(want), name)
			for _, mf := range got {
				require.True(t, proto.Equal(want[mf.GetName()], mf), "%s, %d pieces: family %s differs", name, n, mf.GetName())
			}
		}
		if pieces := splitFamilies(text, 4, 0); len(pieces) > 1 {
			require.Equal(t, text, strings.Join(pieces, ""), name)
		}
	}
	require.Greater(t, len(splitFamilies(bench, 4, 0)), 1, "the bench exposition is cut")
}
