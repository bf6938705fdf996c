package supervisordlite_test

import (
	"testing"
)

// The replayer's matcher, checked on its own (the vector files come from elsewhere).
func TestVectorMatcher(t *testing.T) {
	cases := []struct {
		name, expect, got string
		unordered, want   bool
	}{
		{"equal", `{"a":1,"b":[true,null,"x"]}`, `{"b":[true,null,"x"],"a":1}`, false, true},
		{"extra key", `{"a":1}`, `{"a":1,"b":2}`, false, false},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, false, false},
		{"number forms", `{"a":1.0}`, `{"a":1}`, false, true},
		{"different number", `1`, `2`, false, false},
		{"any", `{"a":"<<any>>"}`, `{"a":{"deep":[1]}}`, false, true},
		{"any needs the key", `{"a":"<<any>>"}`, `{}`, false, false},
		{"string", `"<<string>>"`, `"hi"`, false, true},
		{"string not int", `"<<string>>"`, `3`, false, false},
		{"int", `"<<int>>"`, `-42`, false, true},
		{"int not float", `"<<int>>"`, `4.5`, false, false},
		{"int not string", `"<<int>>"`, `"4"`, false, false},
		{"hex", `"<<hex>>"`, `"00af"`, false, true},
		{"hex uppercase", `"<<hex>>"`, `"00AF"`, false, false},
		{"hex empty", `"<<hex>>"`, `""`, false, false},
		{"capture then var", `[{"id":"<<capture:p>>"},{"id":"<<var:p>>"}]`, `[{"id":3},{"id":3}]`, false, true},
		{"var differs", `[{"id":"<<capture:p>>"},{"id":"<<var:p>>"}]`, `[{"id":3},{"id":4}]`, false, false},
		{"var before capture", `"<<var:q>>"`, `1`, false, false},
		{"ordered arrays", `[1,2]`, `[2,1]`, false, false},
		{"unordered arrays", `[1,2]`, `[2,1]`, true, true},
		{"unordered multiset", `[1,1,2]`, `[2,1,2]`, true, false},
		{"unordered length", `[1]`, `[1,1]`, true, false},
		{"unordered backtracks captures",
			`[{"id":"<<capture:a>>","k":"<<any>>"},{"id":"<<var:a>>","k":2}]`,
			`[{"id":1,"k":2},{"id":1,"k":5}]`, true, true},
		{"null", `null`, `null`, false, true},
		{"null vs false", `null`, `false`, false, false},
		{"string literal", `"x"`, `"y"`, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := decodeJSON([]byte(tc.expect))
			if err != nil {
				t.Fatal(err)
			}
			g, err := decodeJSON([]byte(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			m := &matcher{unordered: tc.unordered}
			if _, ok := m.match(e, g, map[string]any{}, "$"); ok != tc.want {
				t.Fatalf("match(%s, %s) = %v, want %v (%s)", tc.expect, tc.got, ok, tc.want, m.where)
			}
		})
	}
}

func TestVectorSubstitute(t *testing.T) {
	v, _ := decodeJSON([]byte(`{"params":{"id":"<<var:p>>","l":["<<var:p>>","x"]}}`))
	out, err := substitute(v, map[string]any{"p": "7"})
	if err != nil {
		t.Fatal(err)
	}
	got := out.(map[string]any)["params"].(map[string]any)
	if got["id"] != "7" || got["l"].([]any)[0] != "7" || got["l"].([]any)[1] != "x" {
		t.Fatalf("substitute: %v", out)
	}
	if _, err := substitute("<<var:nope>>", map[string]any{}); err == nil {
		t.Fatal("an unknown var was substituted")
	}
}
