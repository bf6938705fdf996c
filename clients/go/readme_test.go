package supervisordlite_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// The README examples, as a user outside this repository gets them: each program copied verbatim
// into a new module in a temporary directory, the `replace` and `go mod tidy` of clients/go's
// README run there with the module proxy turned off (so nothing is downloaded, and a module path
// that no proxy serves is no obstacle), then built and run against the test daemon.

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")
var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

func readmeBlock(t *testing.T, re *regexp.Regexp, file, marker string) string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(text, []byte(marker))
	if at < 0 {
		t.Fatalf("%s: no %q", file, marker)
	}
	m := re.FindSubmatch(text[at:])
	if m == nil {
		t.Fatalf("%s: no example after %q", file, marker)
	}
	return string(m[1])
}

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no go command to build the example with: %v", err)
	}
	return p
}

func TestReadmeExamplesBuildInAnotherModule(t *testing.T) {
	goCmd := goTool(t)
	clientDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(clientDir, "README.md")
	// The commands of the README, with the checkout's real path for /path/to/....
	commands := readmeBlock(t, shBlock, readme, "`replace` directive")
	commands = strings.ReplaceAll(commands, "/path/to/supervisord-lite/clients/go", clientDir)
	examples := map[string]string{
		"clients/go/README.md": readmeBlock(t, goBlock, readme, "# supervisord-lite Go client"),
		"README.md":            readmeBlock(t, goBlock, filepath.Join(repoRoot, "README.md"), "**Go** (`clients/go`"),
	}
	for name, program := range examples {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			dir := t.TempDir() // outside the repository, so no go.mod above it
			env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off",
				"PATH="+filepath.Dir(goCmd)+string(os.PathListSeparator)+os.Getenv("PATH"))
			sh := func(script string) string {
				t.Helper()
				cmd := exec.Command("sh", "-eu", "-c", script)
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s in %s: %v\n%s", strings.TrimSpace(script), dir, err, out)
				}
				return string(out)
			}
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644); err != nil {
				t.Fatal(err)
			}
			sh("go mod init example.com/readme-example")
			sh(commands)
			mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(mod), "require github.com/supervisord-lite/supervisord-lite/clients/go") {
				t.Fatalf("go mod tidy did not add the requirement:\n%s", mod)
			}
			sh("go build -o example .")
			// SUPERVISORD_LITE_SOCKET is the test daemon's (TestMain set it) for DialDefault.
			if out := sh("./example"); out != "7\n" {
				t.Fatalf("the example printed %q, want \"7\\n\"", out)
			}
		})
	}
}
