package cloudformation

import (
	"reflect"
	"testing"
)

// TestDaemonTemplate checks what moto does not keep of the daemon stack:
// a Fargate task in awsvpc mode without a public IP, one task, its two
// roles, a read-only root file system and a stop timeout that lets a run
// finish.
func TestDaemonTemplate(t *testing.T) {
	tpl, err := loadTemplate(daemonTemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(name string) map[string]any { return map[string]any{"Ref": name} }
	getAtt := func(r, a string) map[string]any { return map[string]any{"Fn::GetAtt": []any{r, a}} }
	td, typ := resource(tpl, "TaskDefinition")
	if typ != "AWS::ECS::TaskDefinition" {
		t.Fatalf("TaskDefinition is %q", typ)
	}
	svc, typ := resource(tpl, "Service")
	if typ != "AWS::ECS::Service" {
		t.Fatalf("Service is %q", typ)
	}
	cds, _ := td["ContainerDefinitions"].([]any)
	if len(cds) != 1 {
		t.Fatalf("%d containers, want 1", len(cds))
	}
	ct, _ := cds[0].(map[string]any)
	net, _ := svc["NetworkConfiguration"].(map[string]any)
	awsvpc, _ := net["AwsvpcConfiguration"].(map[string]any)
	tests := []struct {
		what      string
		got, want any
	}{
		{"TaskDefinition.RequiresCompatibilities", td["RequiresCompatibilities"], []any{"FARGATE"}},
		{"TaskDefinition.NetworkMode", td["NetworkMode"], "awsvpc"},
		{"TaskDefinition.TaskRoleArn", td["TaskRoleArn"], getAtt("TaskRole", "Arn")},
		{"TaskDefinition.ExecutionRoleArn", td["ExecutionRoleArn"], getAtt("ExecutionRole", "Arn")},
		{"TaskDefinition.RuntimePlatform", td["RuntimePlatform"], map[string]any{"CpuArchitecture": ref("Architecture"), "OperatingSystemFamily": "LINUX"}},
		{"container Image", ct["Image"], ref("Image")},
		{"container ReadonlyRootFilesystem", ct["ReadonlyRootFilesystem"], true},
		{"container Essential", ct["Essential"], true},
		{"Service.LaunchType", svc["LaunchType"], "FARGATE"},
		{"Service.DesiredCount", svc["DesiredCount"], 1},
		{"Service AssignPublicIp", awsvpc["AssignPublicIp"], "DISABLED"},
		{"Service Subnets", awsvpc["Subnets"], ref("SubnetIds")},
		{"Service SecurityGroups", awsvpc["SecurityGroups"],
			map[string]any{"Fn::If": []any{"CreateSecurityGroup", []any{ref("SecurityGroup")}, ref("SecurityGroupIds")}}},
	}
	for _, tc := range tests {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.what, tc.got, tc.want)
		}
	}
	// ECS gives a container at most StopTimeout after SIGTERM (Fargate: up
	// to 120 s); tgsync finishes the run in progress first.
	if st, ok := ct["StopTimeout"].(int); !ok || st < 60 || st > 120 {
		t.Errorf("StopTimeout = %v, want 60..120 seconds", ct["StopTimeout"])
	}
	// Both roles are for ECS tasks only.
	for _, role := range []string{"TaskRole", "ExecutionRole"} {
		props, _ := resource(tpl, role)
		doc, _ := props["AssumeRolePolicyDocument"].(map[string]any)
		stmts, _ := doc["Statement"].([]any)
		if len(stmts) != 1 {
			t.Fatalf("%s trusts %d statements, want 1", role, len(stmts))
		}
		s, _ := stmts[0].(map[string]any)
		if !reflect.DeepEqual(s["Principal"], map[string]any{"Service": "ecs-tasks.amazonaws.com"}) || s["Action"] != "sts:AssumeRole" {
			t.Errorf("%s trusts %v with %v, want ecs-tasks.amazonaws.com with sts:AssumeRole", role, s["Principal"], s["Action"])
		}
		cond, _ := s["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if !reflect.DeepEqual(eq["aws:SourceAccount"], ref("AWS::AccountId")) {
			t.Errorf("%s: trust without aws:SourceAccount of this account: %v", role, cond)
		}
	}
}
