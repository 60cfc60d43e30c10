// Package deploy holds the tests of the daemon's homes outside
// CloudFormation's own tests: the systemd unit (systemd/tgsync.service)
// and the Kubernetes manifest (kubernetes/tgsync.yaml), with the ECS task
// of cloudformation/tgsync-daemon.yaml beside them.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// invocation is one way a home starts tgsync: its arguments after the
// binary, and the variables it sets.
type invocation struct {
	where string
	args  []string
	env   []string // names
}

// TestHomesUseWhatTgsyncAccepts checks that every flag and every TGSYNC_
// variable the daemon's homes use is one the command they run accepts, as
// that command's --help lists them (the binary's output, so that the test
// holds however the CLI parses its flags), and that the whole command line
// parses: the binary is run with it and --help added.
func TestHomesUseWhatTgsyncAccepts(t *testing.T) {
	bin := testenv.CLI(t)
	invs := slices.Concat(systemdInvocations(t), kubernetesInvocations(t), ecsInvocations(t))
	if len(invs) < 4 {
		t.Fatalf("found %d invocations, want the unit's, the Deployment's, the ECS task's and its health check", len(invs))
	}
	helps := map[string]help{}
	for _, inv := range invs {
		t.Run(inv.where, func(t *testing.T) {
			if len(inv.args) == 0 {
				t.Fatal("no arguments")
			}
			cmd := inv.args[0]
			h, ok := helps[cmd]
			if !ok {
				h = helpOf(t, bin, cmd)
				helps[cmd] = h
			}
			for _, a := range inv.args[1:] {
				if !strings.HasPrefix(a, "-") {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				if !h.flags[name] {
					t.Errorf("flag %s: tgsync %s does not accept it (its flags: %v)", a, cmd, keys(h.flags))
				}
			}
			for _, v := range inv.env {
				if strings.HasPrefix(v, "TGSYNC_") && !h.env[v] {
					t.Errorf("variable %s: tgsync %s --help names no such variable (it names %v)", v, cmd, keys(h.env))
				}
			}
			out, err := runTool(bin, append(slices.Clone(inv.args), "--help")...)
			if err != nil {
				t.Errorf("tgsync %s --help: %v\n%s", strings.Join(inv.args, " "), err, out)
			}
		})
	}
	// The daemon's homes run it the same way: only where the status page
	// listens differs.
	var runs [][]string
	for _, inv := range invs {
		if inv.args[0] == "run" {
			runs = append(runs, withoutListenHost(flagValues(inv.args[1:])))
		}
	}
	for i := 1; i < len(runs); i++ {
		if !slices.Equal(runs[i], runs[0]) {
			t.Errorf("the homes run tgsync differently:\n%q\n%q", runs[0], runs[i])
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, with
// ExecStart pointed at the binary of make build.
func TestSystemdUnitVerifies(t *testing.T) {
	sa := testenv.NeedTool(t, "systemd-analyze")
	bin := testenv.CLI(t)
	data, err := os.ReadFile("systemd/tgsync.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "tgsync.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/tgsync"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify prints what it ignores but still exits 0: any output fails.
	out, err := runTool(sa, "verify", unit)
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

type help struct{ flags, env map[string]bool }

var (
	helpFlag = regexp.MustCompile(`(?m)^\s+(?:-[a-zA-Z], )?--?([a-z][a-z0-9-]*)`)
	helpEnv  = regexp.MustCompile(`TGSYNC_[A-Z0-9_]+`)
)

// helpOf reads the flags and TGSYNC_ variables of tgsync cmd --help. Go's
// flag package prints "  -name value", cobra "      --name value".
func helpOf(t *testing.T, bin, cmd string) help {
	t.Helper()
	out, err := runTool(bin, cmd, "--help")
	if err != nil {
		t.Fatalf("tgsync %s --help: %v\n%s", cmd, err, out)
	}
	h := help{flags: map[string]bool{}, env: map[string]bool{}}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		h.flags[m[1]] = true
	}
	for _, v := range helpEnv.FindAllString(string(out), -1) {
		h.env[v] = true
	}
	if len(h.flags) == 0 {
		t.Fatalf("tgsync %s --help lists no flags:\n%s", cmd, out)
	}
	return h
}

func runTool(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"HOME=" + os.TempDir(), "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return out.Bytes(), errors.New("timed out")
	}
}

// systemdInvocations reads ExecStart and Environment of the unit.
func systemdInvocations(t *testing.T) []invocation {
	t.Helper()
	data, err := os.ReadFile("systemd/tgsync.service")
	if err != nil {
		t.Fatal(err)
	}
	inv := invocation{where: "systemd/tgsync.service"}
	section := ""
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		case section != "[Service]":
		case strings.HasPrefix(line, "ExecStart="):
			fields := strings.Fields(strings.TrimPrefix(line, "ExecStart="))
			if len(fields) < 2 || filepath.Base(fields[0]) != "tgsync" {
				t.Fatalf("ExecStart=%s does not run tgsync", strings.Join(fields, " "))
			}
			inv.args = fields[1:]
		case strings.HasPrefix(line, "Environment="):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "Environment=")) {
				name, _, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				inv.env = append(inv.env, name)
			}
		}
	}
	return []invocation{inv}
}

// probe is a Kubernetes probe of the kind the manifest uses.
type probe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

// kubernetesInvocations reads the container of the Deployment, and checks
// that its probes ask /healthz on the port tgsync listens on.
func kubernetesInvocations(t *testing.T) []invocation {
	t.Helper()
	data, err := os.ReadFile("kubernetes/tgsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Name    string
		Command []string
		Args    []string
		Env     []struct{ Name string }
		Ports   []struct {
			Name          string
			ContainerPort int `yaml:"containerPort"`
		}
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
	}
	var invs []invocation
	kinds := map[string]int{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string
			Spec struct {
				Replicas int
				Template struct {
					Spec struct{ Containers []container }
				}
			}
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes/tgsync.yaml: %v", err)
		}
		kinds[doc.Kind]++
		if doc.Kind != "Deployment" {
			continue
		}
		if doc.Spec.Replicas != 1 {
			t.Errorf("Deployment replicas = %d, want 1", doc.Spec.Replicas)
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			inv := invocation{where: "kubernetes/tgsync.yaml container " + c.Name, args: slices.Concat(c.Command, c.Args)}
			if len(c.Command) > 0 {
				t.Errorf("container %s replaces the image's entrypoint with %q; give args only", c.Name, c.Command)
			}
			for _, e := range c.Env {
				inv.env = append(inv.env, e.Name)
			}
			port := listenPort(inv.args)
			for _, p := range c.Ports {
				if p.ContainerPort != port {
					t.Errorf("container port %s is %d, tgsync listens on %d", p.Name, p.ContainerPort, port)
				}
				for what, pr := range map[string]*probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
					if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/healthz" || pr.HTTPGet.Port != p.Name {
						t.Errorf("container %s: %s probe %+v, want GET /healthz on port %s", c.Name, what, pr, p.Name)
					}
				}
			}
			invs = append(invs, inv)
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service"} {
		if kinds[k] != 1 {
			t.Errorf("kubernetes/tgsync.yaml has %d %s, want 1", kinds[k], k)
		}
	}
	return invs
}

// ecsInvocations reads the container of the daemon template's task
// definition, and its health check, with the parameters' defaults
// substituted for !Ref and !Sub.
func ecsInvocations(t *testing.T) []invocation {
	t.Helper()
	data, err := os.ReadFile("cloudformation/tgsync-daemon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			Default any `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Properties struct {
				ContainerDefinitions []struct {
					Command     []yaml.Node `yaml:"Command"`
					Environment []struct {
						Name string `yaml:"Name"`
					} `yaml:"Environment"`
					HealthCheck struct {
						Command []yaml.Node `yaml:"Command"`
					} `yaml:"HealthCheck"`
				} `yaml:"ContainerDefinitions"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(data, &tpl); err != nil {
		t.Fatal(err)
	}
	value := func(n yaml.Node) string {
		switch n.Tag {
		case "!Ref":
			return toString(tpl.Parameters[n.Value].Default)
		case "!Sub":
			return regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`).ReplaceAllStringFunc(n.Value, func(m string) string {
				return toString(tpl.Parameters[m[2:len(m)-1]].Default)
			})
		}
		return n.Value
	}
	values := func(ns []yaml.Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, value(n))
		}
		return out
	}
	cds := tpl.Resources["TaskDefinition"].Properties.ContainerDefinitions
	if len(cds) != 1 {
		t.Fatalf("the task definition has %d containers, want 1", len(cds))
	}
	run := invocation{where: "cloudformation/tgsync-daemon.yaml container", args: values(cds[0].Command)}
	for _, e := range cds[0].Environment {
		run.env = append(run.env, e.Name)
	}
	check := values(cds[0].HealthCheck.Command)
	if len(check) < 3 || check[0] != "CMD" || check[1] != "/tgsync" {
		t.Fatalf("health check %q is not CMD /tgsync ...", check)
	}
	return []invocation{run, {where: "cloudformation/tgsync-daemon.yaml health check", args: check[2:]}}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// flagValues returns args with each flag joined to its value, sorted, for
// comparing command lines.
func flagValues(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			a += "=" + args[i+1]
			i++
		}
		out = append(out, "--"+strings.TrimLeft(a, "-"))
	}
	slices.Sort(out)
	return out
}

// withoutListenHost drops the host of --listen and the config flag, which
// differ by home (a file, or TGSYNC_CONFIG_YAML in ECS).
func withoutListenHost(flags []string) []string {
	var out []string
	for _, f := range flags {
		switch {
		case strings.HasPrefix(f, "--listen="):
			f = "--listen=:" + f[strings.LastIndex(f, ":")+1:]
		case strings.HasPrefix(f, "--config="):
			continue
		}
		out = append(out, f)
	}
	return out
}

// listenPort is the port of --listen in args, or 0.
func listenPort(args []string) int {
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			p, _ := strconv.Atoi(args[i+1][strings.LastIndex(args[i+1], ":")+1:])
			return p
		}
	}
	return 0
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
