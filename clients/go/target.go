package supervisordlite

import "encoding/json"

// Target is what a process runs: a program (ArgvTarget) or a Python callable (CallableTarget),
// with optional environment changes and working directory. A nil *Target runs nothing and ends
// with exit code 0, like the run() of processing's Process.
type Target struct {
	// Argv is the program and its arguments (looked up in PATH); the process's Args are appended.
	Argv []string
	// Callable is "package.module:function", imported in the child and called with Args and Kwargs.
	Callable string
	// SysPath is put first on the child's sys.path (Callable targets only).
	SysPath []string
	// Env is merged into the daemon's environment; a nil value removes the variable.
	Env map[string]*string
	// Cwd is the child's working directory ("" keeps the daemon's).
	Cwd string
}

// ArgvTarget runs a program: argv[0] is looked up in PATH.
func ArgvTarget(argv []string) *Target { return &Target{Argv: argv} }

// CallableTarget runs a Python function, "package.module:function", in the child.
func CallableTarget(ref string) *Target { return &Target{Callable: ref} }

// SetEnv sets an environment variable for the child; it returns t for chaining.
func (t *Target) SetEnv(name, value string) *Target {
	if t.Env == nil {
		t.Env = make(map[string]*string)
	}
	t.Env[name] = &value
	return t
}

// UnsetEnv removes a variable of the daemon's environment from the child's; it returns t.
func (t *Target) UnsetEnv(name string) *Target {
	if t.Env == nil {
		t.Env = make(map[string]*string)
	}
	t.Env[name] = nil
	return t
}

// WithCwd sets the child's working directory; it returns t for chaining.
func (t *Target) WithCwd(dir string) *Target {
	t.Cwd = dir
	return t
}

// MarshalJSON writes the wire form: {"argv": [...]} or {"callable": "..."}, plus "env", "cwd" and
// "sys_path" when set. A Target with neither Argv nor Callable is sent as {} (the daemon refuses
// it); one with both is sent with both (refused too).
func (t *Target) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if t.Argv != nil {
		m["argv"] = t.Argv
	}
	if t.Callable != "" {
		m["callable"] = t.Callable
	}
	if len(t.SysPath) > 0 {
		m["sys_path"] = t.SysPath
	}
	if len(t.Env) > 0 {
		m["env"] = t.Env
	}
	if t.Cwd != "" {
		m["cwd"] = t.Cwd
	}
	return json.Marshal(m)
}
