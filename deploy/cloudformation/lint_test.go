package cloudformation

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCfnLint runs cfn-lint on every template here: any error or warning
// fails (cfn-lint exits 2 for errors, 4 for warnings, 8 for
// informational findings).
func TestCfnLint(t *testing.T) {
	bin := testenv.NeedTool(t, "cfn-lint")
	templates, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) == 0 {
		t.Fatal("no templates found")
	}
	for _, tpl := range templates {
		t.Run(tpl, func(t *testing.T) {
			ctx := testenv.Context(t, 2*time.Minute)
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin, "--format", "parseable", tpl).CombinedOutput()
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				t.Errorf("cfn-lint %s: exit %d:\n%s", tpl, exit.ExitCode(), out)
			case err != nil:
				t.Fatalf("cfn-lint %s: %v", tpl, err)
			case len(out) > 0:
				t.Errorf("cfn-lint %s printed findings:\n%s", tpl, out)
			}
			t.Logf("cfn-lint %s: %s", tpl, time.Since(start).Round(time.Millisecond))
		})
	}
}
