package ecsevent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

const sampleTask = "arn:aws:ecs:ap-northeast-1:111122223333:task/ingest/b8a1c2d3e4f5061728394a5b6c7d8e9f"

// mutate returns a sample with its decoded JSON changed by f.
func mutate(t testing.TB, name string, f func(ev map[string]any, detail map[string]any)) []byte {
	t.Helper()
	return testenv.EditJSON(t, testenv.Testdata(t, name), func(ev map[string]any) { f(ev, ev["detail"].(map[string]any)) })
}

func addrList(ips []netip.Addr) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func TestSamples(t *testing.T) {
	tests := []struct {
		file    string
		act     bool
		version int64
		reason  string
	}{
		{"fargate-spot-interruption.json", true, 4, "stopCode SpotInterruption"},
		{"fargate-spot-termination-notice.json", true, 4, "stopCode TerminationNotice"},
		{"task-running.json", false, 3, "has no stopCode (desiredStatus RUNNING, lastStatus RUNNING)"},
		{"task-stopped-by-user.json", false, 7, "stopCode UserInitiated"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := Parse(testenv.Testdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Source != Source || ev.DetailType != DetailTypeTaskStateChange || ev.Region != "ap-northeast-1" ||
				!ev.Time.Equal(time.Date(2026, 3, 4, 9, 15, 22, 0, time.UTC)) || ev.Task == nil {
				t.Fatalf("event %+v", ev)
			}
			task, act, reason := Decide(ev, Filter{})
			if act != tc.act || !strings.Contains(reason, tc.reason) || !strings.Contains(reason, sampleTask) {
				t.Fatalf("act %v, reason %q; want act %v and a reason with %q and the task", act, reason, tc.act, tc.reason)
			}
			if task.ARN != sampleTask || task.Version != tc.version || !task.EventTime.Equal(ev.Time) {
				t.Fatalf("task %+v", task)
			}
			if !act {
				if task.IPs != nil || task.Reason != "" {
					t.Fatalf("an ignored event carries IPs %v or reason %q", task.IPs, task.Reason)
				}
				return
			}
			if got := addrList(task.IPs); !slices.Equal(got, []string{"10.20.3.41"}) {
				t.Fatalf("IPs %v", got)
			}
			if task.Reason != reason || !strings.Contains(reason, "Your Spot Task was interrupted.") {
				t.Fatalf("task reason %q, decide reason %q", task.Reason, reason)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	// An event naming more addresses than ECS gives a task: 2,000 IPv4
	// addresses spread over containers, as in an event that would empty a
	// target group.
	var many []any
	for i := range 2000 {
		many = append(many, container(fmt.Sprintf("c%d", i), fmt.Sprintf("10.21.%d.%d", i/250, i%250)))
	}
	manyIPs := string(mutate(t, interruption, func(_, d map[string]any) { d["containers"] = many }))
	twoIPv4 := string(mutate(t, interruption, func(_, d map[string]any) {
		d["containers"] = []any{container("logstash", "10.20.3.41"), container("sidecar", "10.20.9.9")}
	}))
	twoIPv6 := string(mutate(t, interruption, func(_, d map[string]any) {
		d["attachments"] = []any{eni("privateIPv4Address", "10.20.3.41", "ipv6Address", "2001:db8::41")}
		d["containers"] = []any{container("logstash", "10.20.3.41", "2001:db8::42")}
	}))
	tests := []struct {
		name  string
		input string
		kind  InputKind
		want  []string
	}{
		{"empty", "", NotJSON, []string{"not JSON", "empty"}},
		{"blank", " \n\t", NotJSON, []string{"not JSON", "empty"}},
		{"text", "hello world", NotJSON, []string{"not JSON", "at byte", `"hello world"`}},
		{"truncated", `{"source": "aws.ecs", "detail-type": `, NotJSON, []string{"not JSON", "unexpected end"}},
		{"two values", `{} {}`, NotJSON, []string{"not JSON"}},
		{"array", `[{"source":"aws.ecs"}]`, NotEvent, []string{"not an EventBridge event", "JSON object", `"[{\"source\":\"aws.ecs\"}]"`}},
		{"string", `"aws.ecs"`, NotEvent, []string{"not an EventBridge event"}},
		{"source not a string", `{"source": 7, "detail-type": "x"}`, NotEvent, []string{"source is \"7\", want a string"}},
		{"scheduled event", `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`, NotECS,
			[]string{`not an ECS event: source "aws.events", detail-type "Scheduled Event"`}},
		{"empty object", `{}`, NotECS, []string{"source (none), detail-type (none)"}},
		{"no detail", `{"source":"aws.ecs","detail-type":"ECS Task State Change"}`, BadDetail, []string{"no detail"}},
		{"detail not an object", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":[]}`, BadDetail, []string{"detail"}},
		{"no task ARN", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"version":1}}`, BadDetail, []string{"no taskArn"}},
		{"version a string", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"t","version":"4"}}`, BadDetail,
			[]string{"detail.version is a string, want an integer"}},
		{"negative version", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"t","version":-1}}`, BadDetail, []string{"negative"}},
		{"bad time", `{"source":"aws.ecs","detail-type":"ECS Task State Change","time":"yesterday","detail":{"taskArn":"t"}}`, BadDetail, []string{`time "yesterday"`}},
		{"bad attachment IP", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"t","attachments":[{"type":"eni","details":[{"name":"privateIPv4Address","value":"10.20.3"}]}]}}`,
			BadDetail, []string{"attachments[0].details[0] privateIPv4Address", `"10.20.3" is not an IP address`}},
		{"zoned container IP", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"t","containers":[{"networkInterfaces":[{"ipv6Address":"fe80::1%eth0"}]}]}}`,
			BadDetail, []string{"containers[0].networkInterfaces[0].ipv6Address"}},
		{"2,000 addresses", manyIPs, BadDetail, []string{sampleTask, "2001 IPv4 addresses (10.20.3.41, 10.21.0.0, 10.21.0.1, … 1998 more)", "one private IPv4 address", "README.md"}},
		{"two IPv4 addresses", twoIPv4, BadDetail, []string{"2 IPv4 addresses (10.20.3.41, 10.20.9.9)"}},
		{"two IPv6 addresses", twoIPv6, BadDetail, []string{"2 IPv6 addresses (2001:db8::41, 2001:db8::42)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(tc.input))
			var ie *InputError
			if !errors.As(err, &ie) || ev != nil {
				t.Fatalf("Parse = %v, %v; want only an *InputError", ev, err)
			}
			if ie.Kind != tc.kind {
				t.Errorf("kind %d, want %d", ie.Kind, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The source and detail type of a foreign event are there for callers.
	_, err := Parse([]byte(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
	var ie *InputError
	if !errors.As(err, &ie) || ie.Source != "aws.events" || ie.DetailType != "Scheduled Event" {
		t.Fatalf("%#v", err)
	}
}

func TestOtherECSEventIsIgnored(t *testing.T) {
	ev, err := Parse([]byte(`{"source":"aws.ecs","detail-type":"ECS Container Instance State Change","detail":{"agentConnected":true,"version":"not a number here"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Task != nil {
		t.Fatalf("task %+v", ev.Task)
	}
	if _, act, reason := Decide(ev, Filter{}); act || !strings.Contains(reason, "not a task state change") {
		t.Fatalf("act %v, reason %q", act, reason)
	}
}

const interruption = "fargate-spot-interruption.json"

func eni(details ...string) map[string]any {
	var ds []any
	for i := 0; i+1 < len(details); i += 2 {
		ds = append(ds, map[string]any{"name": details[i], "value": details[i+1]})
	}
	return map[string]any{"id": "att", "type": "eni", "status": "ATTACHED", "details": ds}
}

func container(name string, ips ...string) map[string]any {
	var nis []any
	for _, ip := range ips {
		key := "privateIpv4Address"
		if strings.Contains(ip, ":") {
			key = "ipv6Address"
		}
		nis = append(nis, map[string]any{"attachmentId": "att", key: ip})
	}
	return map[string]any{"name": name, "lastStatus": "RUNNING", "networkInterfaces": nis}
}

func TestDecide(t *testing.T) {
	const cluster = "arn:aws:ecs:ap-northeast-1:111122223333:cluster/ingest"
	tests := []struct {
		name   string
		change func(ev, d map[string]any)
		filter Filter
		act    bool
		ips    []string
		reason string
	}{
		{name: "the sample", act: true, ips: []string{"10.20.3.41"}},
		{name: "matching cluster and group", filter: Filter{Clusters: []string{"arn:other", cluster}, Group: "service:logstash"}, act: true, ips: []string{"10.20.3.41"}},
		{name: "other cluster", filter: Filter{Clusters: []string{"arn:aws:ecs:ap-northeast-1:111122223333:cluster/web"}}, reason: "is in cluster " + cluster + ", not in the configured clusters arn:aws:ecs:ap-northeast-1:111122223333:cluster/web"},
		{name: "other group", filter: Filter{Group: "service:web"}, reason: `is in group service:logstash, not in the configured group "service:web"`},
		{name: "no group in the event", change: func(_, d map[string]any) { delete(d, "group") }, filter: Filter{Group: "service:web"}, reason: "is in group (none)"},
		{name: "configured stop codes only", filter: Filter{StopCodes: []string{"TerminationNotice"}}, reason: "stopCode SpotInterruption (\"Your Spot Task was interrupted.\"), not one of TerminationNotice"},
		{name: "a configured other stop code", change: func(_, d map[string]any) { d["stopCode"] = "ServiceSchedulerInitiated" }, filter: Filter{StopCodes: []string{"ServiceSchedulerInitiated"}}, act: true, ips: []string{"10.20.3.41"}},
		{name: "desired RUNNING", change: func(_, d map[string]any) { d["desiredStatus"] = "RUNNING" }, reason: "desiredStatus RUNNING, not STOPPED"},
		{name: "already stopped", change: func(_, d map[string]any) { d["lastStatus"] = "STOPPED" }, reason: "has already stopped"},
		{name: "deactivating still acts", change: func(_, d map[string]any) { d["lastStatus"] = "DEACTIVATING"; d["version"] = 5 }, act: true, ips: []string{"10.20.3.41"}},
		{name: "missing container", filter: Filter{ContainerName: "nginx"}, reason: `has no container named "nginx"`},
		{
			name: "container filter counts only that container and the ENI",
			change: func(_, d map[string]any) {
				d["containers"] = []any{container("logstash", "10.20.3.41"), container("sidecar", "fd00::41")}
			},
			filter: Filter{ContainerName: "logstash"}, act: true, ips: []string{"10.20.3.41"},
		},
		{
			name: "without a container filter every container counts",
			change: func(_, d map[string]any) {
				d["containers"] = []any{container("logstash", "10.20.3.41"), container("sidecar", "fd00::41")}
			},
			act: true, ips: []string{"10.20.3.41", "fd00::41"},
		},
		{
			// The cap counts distinct addresses: the ENI's address is
			// also every container's, in any spelling.
			name: "one address named many times counts once",
			change: func(_, d map[string]any) {
				d["attachments"] = []any{eni("privateIPv4Address", "10.20.3.41", "ipv6Address", "2001:db8::41")}
				d["containers"] = []any{container("logstash", "10.20.3.41", "2001:db8:0::41"), container("sidecar", "::ffff:10.20.3.41"), container("agent", "10.20.3.41")}
			},
			act: true, ips: []string{"10.20.3.41", "2001:db8::41"},
		},
		{
			name: "IPv6 from the ENI and the container, deduplicated",
			change: func(_, d map[string]any) {
				d["attachments"] = []any{eni("privateIPv4Address", "10.20.3.41", "ipv6Address", "2001:db8::41"), map[string]any{"type": "elb", "details": []any{map[string]any{"name": "privateIPv4Address", "value": "10.99.0.1"}}}}
				d["containers"] = []any{container("logstash", "10.20.3.41", "2001:db8::41")}
			},
			act: true, ips: []string{"10.20.3.41", "2001:db8::41"},
		},
		{
			name: "DescribeTasks spelling of the ENI type",
			change: func(_, d map[string]any) {
				a := eni("privateIPv4Address", "10.20.3.77")
				a["type"] = "ElasticNetworkInterface"
				d["attachments"] = []any{a}
				delete(d, "containers")
			},
			act: true, ips: []string{"10.20.3.77"},
		},
		{
			name: "no IP anywhere",
			change: func(_, d map[string]any) {
				d["attachments"] = []any{eni("subnetId", "subnet-1", "networkInterfaceId", "eni-1")}
				d["containers"] = []any{container("logstash")}
			},
			reason: "carries no IP address (no eni attachment with privateIPv4Address or ipv6Address and no container network interface)",
		},
		{
			name: "no IP for the filtered container",
			change: func(_, d map[string]any) {
				d["attachments"] = []any{}
				d["containers"] = []any{container("logstash"), container("sidecar", "10.20.9.9")}
			},
			filter: Filter{ContainerName: "logstash"},
			reason: `no network interface of container "logstash"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := testenv.Testdata(t, interruption)
			if tc.change != nil {
				data = mutate(t, interruption, tc.change)
			}
			ev, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			task, act, reason := Decide(ev, tc.filter)
			if act != tc.act {
				t.Fatalf("act %v, want %v: %s", act, tc.act, reason)
			}
			if !strings.Contains(reason, sampleTask) || !strings.Contains(reason, tc.reason) {
				t.Fatalf("reason %q, want the task and %q", reason, tc.reason)
			}
			if got := addrList(task.IPs); !slices.Equal(got, tc.ips) {
				t.Fatalf("IPs %v, want %v", got, tc.ips)
			}
		})
	}
	if _, act, reason := Decide(nil, Filter{}); act || reason == "" {
		t.Fatalf("nil event: act %v, reason %q", act, reason)
	}
}
