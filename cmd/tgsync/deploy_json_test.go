package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

// deployJSON is the document of tgsync deploy -o json, with the names a
// script reads.
type deployJSON struct {
	Stack     string `json:"stack"`
	Region    string `json:"region"`
	Action    string `json:"action"`
	DryRun    bool   `json:"dryRun"`
	ChangeSet *struct {
		Type       string `json:"type"`
		Parameters []struct {
			Key  string   `json:"key"`
			Old  *string  `json:"old"`
			New  string   `json:"new"`
			Diff []string `json:"diff"`
		} `json:"parameters"`
		Resources []resourceJSON `json:"resources"`
	} `json:"changeSet"`
	Status   string            `json:"status"`
	Outputs  map[string]string `json:"outputs"`
	FirstRun *struct {
		Function string `json:"function"`
		LogGroup string `json:"logGroup"`
		Error    *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		Summary *struct {
			Bindings []struct {
				Binding    string   `json:"binding"`
				Registered []string `json:"registered"`
				Changes    []struct {
					Action string `json:"action"`
					Target string `json:"target"`
				} `json:"changes"`
				Error string `json:"error"`
			} `json:"bindings"`
			StateWritten bool `json:"stateWritten"`
		} `json:"summary"`
	} `json:"firstRun"`
	State *struct {
		Bucket          string `json:"bucket"`
		URL             string `json:"url"`
		Kept            bool   `json:"kept"`
		BucketKept      bool   `json:"bucketKept"`
		VersionsDeleted int    `json:"versionsDeleted"`
	} `json:"state"`
	Error string `json:"error"`
}

type resourceJSON struct {
	Action    string `json:"action"`
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
}

// decodeDeploy reads stdout as exactly one JSON document.
func decodeDeploy(t *testing.T, what string, res result) deployJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	var doc deployJSON
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: stdout is not the JSON result (%v): %s", what, err, res)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one JSON document on stdout: %s", what, res)
	}
	return doc
}

// param finds a parameter change by key.
func (d deployJSON) param(key string) (old *string, new string, diff []string, ok bool) {
	if d.ChangeSet == nil {
		return nil, "", nil, false
	}
	for _, p := range d.ChangeSet.Parameters {
		if p.Key == key {
			return p.Old, p.New, p.Diff, true
		}
	}
	return nil, "", nil, false
}

// TestDeployJSON runs tgsync deploy -o json against moto through a dry
// run, the create, a deploy that changes nothing, the dry run and the
// update of a config whose new binding fails its first run, and the
// deletes: each time stdout is one JSON document that says what the text
// says, and the text goes to stderr.
func TestDeployJSON(t *testing.T) {
	w := newDeployWorld(t)
	stack := testenv.UniqueName("tgsync-json")
	one := w.config(t, "one.yaml", false, "")

	// A usage error leaves stdout empty, as for every command.
	if res := w.deploy(t, stack, one, "-o", "json", "--param", "Metrics"); res.code != exitUsage || res.stdout != "" ||
		!strings.Contains(res.stderr, `--param "Metrics": want KEY=VALUE`) {
		t.Errorf("a usage error with -o json: want exit 2, the message on stderr and nothing on stdout, got %s", res)
	}

	res := w.deploy(t, stack, one, "--dry-run", "-o", "json")
	if res.code != exitOK {
		t.Fatalf("dry run: %s", res)
	}
	doc := decodeDeploy(t, "the dry run", res)
	if doc.Stack != stack || doc.Region != "us-east-1" || doc.Action != "dry-run" || !doc.DryRun || doc.Status != "" ||
		doc.ChangeSet == nil || doc.ChangeSet.Type != "create" || doc.FirstRun != nil || doc.Error != "" {
		t.Errorf("the dry run's result: %+v", doc)
	}
	if old, v, _, ok := doc.param("ConfigTargetGroupArns"); !ok || old != nil || v != w.groups[0] {
		t.Errorf("the dry run's ConfigTargetGroupArns: %v %q %v", old, v, ok)
	}
	if doc.ChangeSet != nil && !slices.Contains(doc.ChangeSet.Resources, resourceJSON{"Add", "Function", "AWS::Lambda::Function"}) {
		t.Errorf("the dry run's resources do not add the function: %+v", doc.ChangeSet.Resources)
	}
	wantLines(t, "the dry run's stderr", res.stderr, "tgsync deploy: stack "+stack, "Change set to create stack "+stack, "Dry run: nothing was changed")
	if st := w.stack(t, stack); st != nil {
		t.Errorf("the dry run left stack %s in %s", stack, st.status)
	}

	res = w.deploy(t, stack, one, "-o", "json")
	if res.code != exitOK {
		t.Fatalf("create: %s", res)
	}
	doc = decodeDeploy(t, "the create", res)
	st := w.stack(t, stack)
	if st == nil {
		t.Fatal("no stack after the create")
	}
	if doc.Action != "create" || doc.DryRun || doc.Status != "CREATE_COMPLETE" || doc.ChangeSet == nil || doc.ChangeSet.Type != "create" ||
		len(doc.Outputs) == 0 || !maps.Equal(doc.Outputs, st.outputs) || doc.Error != "" {
		t.Errorf("the create's result: %+v\nthe stack's outputs: %v", doc, st.outputs)
	}
	// The config is masked as in the text: by its size.
	if _, v, _, _ := doc.param("ConfigYaml"); v != fmt.Sprintf("(the config, %d bytes)", len(st.params["ConfigYaml"])) {
		t.Errorf("ConfigYaml in the result: %q", v)
	}
	if strings.Contains(res.stdout, "lookups: 2") {
		t.Errorf("the create's result holds the config:\n%s", res.stdout)
	}
	if fr := doc.FirstRun; fr == nil || fr.Function != st.outputs["FunctionName"] || fr.Error != nil || fr.Summary == nil ||
		len(fr.Summary.Bindings) != 1 || len(fr.Summary.Bindings[0].Changes) != 2 || !fr.Summary.StateWritten ||
		!slices.Equal(slices.Sorted(slices.Values(fr.Summary.Bindings[0].Registered)), withPort(deployDashboardsIPs, 443)) {
		t.Errorf("the create's first run: %+v", doc.FirstRun)
	}
	wantLines(t, "the create's stderr", res.stderr, "Stack "+stack+": CREATE_COMPLETE", "First run: 1 binding(s), 0 failed, 2 change(s)")

	res = w.deploy(t, stack, one, "-o", "json")
	if res.code != exitOK {
		t.Fatalf("second deploy: %s", res)
	}
	doc = decodeDeploy(t, "the second deploy", res)
	if doc.Action != "none" || doc.ChangeSet != nil || doc.Status != "CREATE_COMPLETE" || doc.FirstRun != nil || len(doc.Outputs) == 0 || !maps.Equal(doc.Outputs, st.outputs) {
		t.Errorf("the second deploy's result: %+v", doc)
	}

	// The new binding's name does not resolve: the update completes and
	// its first run fails.
	gone := fmt.Sprintf("  - name: gone\n    source: {dns: gone.deploy.internal}\n    targetGroupArn: %s\n    ports: [8443]\n", w.groups[1])
	two := w.config(t, "two.yaml", false, gone)
	res = w.deploy(t, stack, two, "--dry-run", "-o", "json")
	if res.code != exitOK {
		t.Fatalf("dry run of the update: %s", res)
	}
	doc = decodeDeploy(t, "the update's dry run", res)
	if doc.Action != "dry-run" || !doc.DryRun || doc.Status != "CREATE_COMPLETE" || doc.ChangeSet == nil || doc.ChangeSet.Type != "update" {
		t.Errorf("the update's dry run: %+v", doc)
	}
	old, v, diff, _ := doc.param("ConfigYaml")
	if old == nil || *old != fmt.Sprintf("(the config, %d bytes)", len(st.params["ConfigYaml"])) || !strings.HasPrefix(v, "(the config, ") ||
		!slices.Contains(diff, "+   - name: gone") {
		t.Errorf("the update's ConfigYaml: old %v, new %q, diff %q", old, v, diff)
	}
	if _, _, _, ok := doc.param("CodeS3Key"); ok {
		t.Errorf("the update's dry run lists CodeS3Key, which does not change: %+v", doc.ChangeSet.Parameters)
	}

	res = w.deploy(t, stack, two, "-o", "json")
	if res.code != exitFailed {
		t.Fatalf("the update with a failing first run: want exit 1, got %s", res)
	}
	doc = decodeDeploy(t, "the update", res)
	if doc.Action != "update" || doc.Status != "UPDATE_COMPLETE" || doc.FirstRun == nil || doc.FirstRun.Error == nil ||
		doc.FirstRun.Error.Type != "BindingsFailed" || !strings.Contains(doc.Error, "the stack is deployed, but its first run failed") {
		t.Errorf("the update's result: %+v", doc)
	}
	wantLines(t, "the update's stderr", res.stderr, "First run: failed: BindingsFailed")

	res = w.cli(t, "deploy", "--delete", "--delete-state", "--stack", stack, "-o", "json")
	if res.code != exitOK {
		t.Fatalf("delete: %s", res)
	}
	doc = decodeDeploy(t, "the delete", res)
	if doc.Action != "delete" || doc.Status != "DELETE_COMPLETE" || doc.State == nil || doc.State.Kept || doc.State.BucketKept ||
		doc.State.Bucket != st.outputs["StateBucketName"] || doc.State.URL != st.outputs["StateObjectUrl"] || doc.State.VersionsDeleted < 1 {
		t.Errorf("the delete's result: %+v, state %+v", doc, doc.State)
	}
	if w.bucketExists(t, st.outputs["StateBucketName"]) || w.stack(t, stack) != nil {
		t.Errorf("the delete left the stack or its state bucket")
	}
	wantLines(t, "the delete's stderr", res.stderr, "Stack "+stack+": deleted.", "Deleted the state bucket "+st.outputs["StateBucketName"])

	res = w.cli(t, "deploy", "--delete", "--stack", stack, "-o", "json")
	if doc := decodeDeploy(t, "the second delete", res); res.code != exitOK || doc.Action != "none" || doc.Status != "" || doc.State != nil || doc.Region != "us-east-1" {
		t.Errorf("deleting a deleted stack: %+v\n%s", doc, res)
	}
}

// TestDeployJSONKeepsState: a delete without --delete-state says in its
// JSON that the state and its bucket stay.
func TestDeployJSONKeepsState(t *testing.T) {
	w := newDeployWorld(t)
	stack := testenv.UniqueName("tgsync-keep")
	if res := w.deploy(t, stack, w.config(t, "one.yaml", false, ""), "--no-first-run"); res.code != exitOK {
		t.Fatalf("create: %s", res)
	}
	st := w.stack(t, stack)
	res := w.cli(t, "deploy", "--delete", "--stack", stack, "--output", "json")
	if res.code != exitOK {
		t.Fatalf("delete: %s", res)
	}
	doc := decodeDeploy(t, "the delete", res)
	if doc.Action != "delete" || doc.State == nil || !doc.State.Kept || !doc.State.BucketKept || doc.State.VersionsDeleted != 0 ||
		doc.State.URL != st.outputs["StateObjectUrl"] {
		t.Errorf("the delete's result: %+v, state %+v", doc, doc.State)
	}
	if !w.bucketExists(t, st.outputs["StateBucketName"]) {
		t.Errorf("the delete removed the state bucket")
	}
}
