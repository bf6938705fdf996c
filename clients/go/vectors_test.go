package supervisordlite_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Replays every protocol/vectors/*.json file against the live daemon, following
// protocol/vectors/README.md: each file on a fresh connection, each step sends one line and (unless
// "expect" is absent or null) reads one response line and matches it.

// vectorsDir is protocol/vectors, or $SUPERVISORD_LITE_VECTORS (to replay another set).
func vectorsDir() string {
	if d := os.Getenv("SUPERVISORD_LITE_VECTORS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "protocol", "vectors")
}

type vectorFile struct {
	Description string            `json:"description"`
	Framing     string            `json:"framing"` // "", "ndjson" or "content-length"
	Steps       []json.RawMessage `json:"steps"`
}

type vectorStep struct {
	Send         json.RawMessage `json:"send"`
	SendRaw      *string         `json:"send_raw"`
	SendOversize *int64          `json:"send_oversize"`
	SendEOF      *bool           `json:"send_eof"`
	Expect       json.RawMessage `json:"expect"`
	Unordered    bool            `json:"unordered"`
}

var stepKeys = map[string]bool{
	"send": true, "send_raw": true, "send_oversize": true, "send_eof": true, "expect": true, "unordered": true,
	"description": true, "comment": true,
}

func TestProtocolVectors(t *testing.T) {
	dir := vectorsDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Skipf("no protocol vectors in %s yet (*.json): nothing to replay", dir)
	}
	for _, file := range files {
		file := file
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			replayVector(t, file)
		})
	}
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

func replayVector(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatalf("%s is not a vector file: %v", file, err)
	}
	if len(vf.Steps) == 0 {
		t.Fatalf("%s has no steps", file)
	}
	headers := vf.Framing == "content-length"
	if !headers && vf.Framing != "" && vf.Framing != "ndjson" {
		t.Fatalf("%s: unknown framing %q", file, vf.Framing)
	}
	t.Logf("%s", vf.Description)

	conn, err := net.Dial("unix", socketPath)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	conn.SetDeadline(deadline)
	reader := bufio.NewReader(conn)
	vars := map[string]any{}

	for i, rawStep := range vf.Steps {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(rawStep, &keys); err != nil {
			t.Fatalf("step %d is not an object: %v", i, err)
		}
		for k := range keys {
			if !stepKeys[k] {
				t.Fatalf("step %d: unknown key %q (protocol/vectors/README.md defines no such key)", i, k)
			}
		}
		var step vectorStep
		if err := json.Unmarshal(rawStep, &step); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}

		var line []byte
		sends := 0
		if step.Send != nil {
			sends++
			v, err := decodeJSON(step.Send)
			if err != nil {
				t.Fatalf("step %d: send: %v", i, err)
			}
			v, err = substitute(v, vars)
			if err != nil {
				t.Fatalf("step %d: send: %v", i, err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf) // compact, one line, ends with \n
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				t.Fatalf("step %d: send: %v", i, err)
			}
			line = buf.Bytes()
			if headers {
				line = contentLengthFrame(bytes.TrimSuffix(line, []byte("\n")))
			}
		}
		if step.SendRaw != nil {
			sends++
			line = []byte(*step.SendRaw)
		}
		if step.SendOversize != nil {
			sends++
			line = bytes.Repeat([]byte("x"), int(*step.SendOversize))
			if headers {
				line = contentLengthFrame(line)
			} else {
				line = append(line, '\n')
			}
		}
		if step.SendEOF != nil {
			sends++
			if !*step.SendEOF || i != len(vf.Steps)-1 {
				t.Fatalf("step %d: send_eof is true, and only in the last step", i)
			}
		}
		if sends != 1 {
			t.Fatalf("step %d: exactly one of send, send_raw, send_oversize, send_eof is needed", i)
		}
		if step.SendEOF != nil {
			if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
				t.Fatalf("step %d: shutting the writing side: %v", i, err)
			}
			line = []byte("<end of input>")
		} else if _, err := conn.Write(line); err != nil {
			t.Fatalf("step %d: writing: %v", i, err)
		}

		if step.Expect == nil || string(step.Expect) == "null" {
			continue // a notification: nothing comes back for it
		}
		expect, err := decodeJSON(step.Expect)
		if err != nil {
			t.Fatalf("step %d: expect: %v", i, err)
		}
		read := readResponse
		if headers {
			read = readMessage
		}
		got, gotRaw, err := read(reader)
		if err != nil {
			t.Fatalf("step %d: reading the response to %s: %v", i, clip(line), err)
		}
		m := &matcher{unordered: step.Unordered}
		newVars, ok := m.match(expect, got, vars, "$")
		if !ok {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			enc.Encode(expect)
			t.Fatalf("step %d: sent %s\n got  %s\n want %s\n at %s", i, clip(line), gotRaw,
				bytes.TrimSpace(want.Bytes()), m.where)
		}
		vars = newVars
	}
}

// contentLengthFrame is one message in LSP's base-protocol framing.
func contentLengthFrame(body []byte) []byte {
	return append([]byte(fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))), body...)
}

// readMessage reads one Content-Length framed message: header lines up to an empty one, then
// exactly as many bytes as its Content-Length says.
func readMessage(r *bufio.Reader) (any, []byte, error) {
	length := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, []byte(line), fmt.Errorf("reading a header: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, []byte(line), fmt.Errorf("a header line without a colon: %q", line)
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			if _, err := fmt.Sscanf(strings.TrimSpace(value), "%d", &length); err != nil {
				return nil, []byte(line), fmt.Errorf("a bad Content-Length: %q", line)
			}
		}
	}
	if length < 0 {
		return nil, nil, fmt.Errorf("a reply without a Content-Length header")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, body, fmt.Errorf("reading a body of %d bytes: %v", length, err)
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, body, fmt.Errorf("not JSON: %q: %v", body, err)
	}
	return v, body, nil
}

// readResponse reads one non-blank line (blank lines are ignored, as in PROTOCOL.md).
func readResponse(r *bufio.Reader) (any, []byte, error) {
	for {
		line, err := r.ReadBytes('\n')
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if err != nil {
				return nil, trimmed, fmt.Errorf("a line without its newline: %q: %v", trimmed, err)
			}
			v, derr := decodeJSON(trimmed)
			if derr != nil {
				return nil, trimmed, fmt.Errorf("not JSON: %q: %v", trimmed, derr)
			}
			return v, trimmed, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

func clip(b []byte) string {
	s := strings.TrimRight(string(b), "\n")
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

var (
	captureRe = regexp.MustCompile(`^<<capture:(.+)>>$`)
	varRe     = regexp.MustCompile(`^<<var:(.+)>>$`)
	hexRe     = regexp.MustCompile(`^[0-9a-f]+$`)
)

// substitute replaces every string "<<var:NAME>>" in a send value by the stored value.
func substitute(v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if m := varRe.FindStringSubmatch(x); m != nil {
			val, ok := vars[m[1]]
			if !ok {
				return nil, fmt.Errorf("<<var:%s>> before its capture", m[1])
			}
			return val, nil
		}
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := substitute(e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, err := substitute(e, vars)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

type matcher struct {
	unordered bool
	where     string // the path of the deepest mismatch, for the failure message
}

func (m *matcher) miss(path, why string) bool {
	if len(path) >= len(m.where) {
		m.where = path + ": " + why
	}
	return false
}

// match matches got against expect; it returns the variables with the captures made (a copy:
// a failed branch of an unordered match leaves no capture behind).
func (m *matcher) match(expect, got any, vars map[string]any, path string) (map[string]any, bool) {
	switch e := expect.(type) {
	case string:
		switch {
		case e == "<<any>>":
			return vars, true
		case e == "<<string>>":
			_, ok := got.(string)
			return vars, ok || m.miss(path, "not a string")
		case e == "<<int>>":
			n, ok := got.(json.Number)
			if ok {
				_, isInt := new(big.Int).SetString(string(n), 10)
				ok = isInt
			}
			return vars, ok || m.miss(path, "not an integer")
		case e == "<<hex>>":
			s, ok := got.(string)
			return vars, (ok && hexRe.MatchString(s)) || m.miss(path, "not a non-empty lowercase hex string")
		}
		if c := captureRe.FindStringSubmatch(e); c != nil {
			out := copyVars(vars)
			out[c[1]] = got
			return out, true
		}
		if v := varRe.FindStringSubmatch(e); v != nil {
			stored, ok := vars[v[1]]
			if !ok {
				return vars, m.miss(path, "<<var:"+v[1]+">> before its capture")
			}
			_, ok = (&matcher{}).match(literal(stored), got, vars, path)
			return vars, ok || m.miss(path, fmt.Sprintf("not the stored %s", v[1]))
		}
		s, ok := got.(string)
		return vars, (ok && s == e) || m.miss(path, "a different value")
	case literalString:
		s, ok := got.(string)
		return vars, (ok && s == string(e)) || m.miss(path, "a different value")
	case json.Number:
		g, ok := got.(json.Number)
		return vars, (ok && numbersEqual(e, g)) || m.miss(path, "a different value")
	case nil, bool:
		return vars, got == expect || m.miss(path, "a different value")
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return vars, m.miss(path, "not an object")
		}
		for k := range g {
			if _, ok := e[k]; !ok {
				return vars, m.miss(path, fmt.Sprintf("unexpected member %q", k))
			}
		}
		keys := make([]string, 0, len(e))
		for k := range e {
			if _, ok := g[k]; !ok {
				return vars, m.miss(path, fmt.Sprintf("missing member %q", k))
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if vars, ok = m.match(e[k], g[k], vars, path+"."+k); !ok {
				return vars, false
			}
		}
		return vars, true
	case []any:
		g, ok := got.([]any)
		if !ok {
			return vars, m.miss(path, "not an array")
		}
		if len(g) != len(e) {
			return vars, m.miss(path, fmt.Sprintf("%d elements, want %d", len(g), len(e)))
		}
		if m.unordered {
			return m.matchMultiset(e, g, make([]bool, len(g)), vars, path)
		}
		for i := range e {
			if vars, ok = m.match(e[i], g[i], vars, fmt.Sprintf("%s[%d]", path, i)); !ok {
				return vars, false
			}
		}
		return vars, true
	}
	return vars, m.miss(path, fmt.Sprintf("unsupported expect value %T", expect))
}

// matchMultiset pairs each expected element with a distinct received one, backtracking.
func (m *matcher) matchMultiset(e, g []any, used []bool, vars map[string]any, path string) (map[string]any, bool) {
	if len(e) == 0 {
		return vars, true
	}
	for j := range g {
		if used[j] {
			continue
		}
		if next, ok := m.match(e[0], g[j], vars, fmt.Sprintf("%s[%d]", path, j)); ok {
			used[j] = true
			if final, ok := m.matchMultiset(e[1:], g, used, next, path); ok {
				return final, true
			}
			used[j] = false
		}
	}
	return vars, m.miss(path, "no unordered pairing of the elements matches")
}

// literal wraps a stored value so that strings in it are compared as they are, not as patterns.
func literal(v any) any {
	switch x := v.(type) {
	case string:
		return literalString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = literal(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = literal(e)
		}
		return out
	}
	return v
}

type literalString string

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, okx := new(big.Rat).SetString(string(a))
	y, oky := new(big.Rat).SetString(string(b))
	return okx && oky && x.Cmp(y) == 0
}

func copyVars(vars map[string]any) map[string]any {
	out := make(map[string]any, len(vars)+1)
	for k, v := range vars {
		out[k] = v
	}
	return out
}
