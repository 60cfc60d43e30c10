package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// changeSet is a change set a dry run made.
type changeSet struct {
	id, stackID string
}

// noChanges are how CloudFormation says that a change set or an update
// would change nothing.
var noChanges = []string{"didn't contain changes", "No updates are to be performed"}

func isNoChange(msg string) bool {
	return slices.ContainsFunc(noChanges, func(s string) bool { return strings.Contains(msg, s) })
}

// createChangeSet makes the change set a dry run shows, and writes it; nil
// when it would change nothing.
func (p *plan) createChangeSet(ctx context.Context, c *cloudformation.Client, st *cfntypes.Stack, want map[string]string) (*changeSet, error) {
	typ := cfntypes.ChangeSetTypeUpdate
	if st == nil {
		typ = cfntypes.ChangeSetTypeCreate
	}
	prev := p.stackParameters(st)
	name := fmt.Sprintf("tgsync-deploy-%d", time.Now().UnixNano())
	out, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName: aws.String(p.Stack), ChangeSetName: aws.String(name), ChangeSetType: typ,
		TemplateBody: aws.String(p.template), Parameters: p.parameters(want, prev),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Description:  aws.String("tgsync deploy"),
	})
	if st != nil {
		p.res.Status = string(st.StackStatus)
	}
	if err != nil {
		if isNoChange(err.Error()) {
			writeUpToDate(p.Out, p.res)
			return nil, nil
		}
		return nil, p.refused(err)
	}
	cs := &changeSet{id: aws.ToString(out.Id), stackID: aws.ToString(out.StackId)}
	var desc *cloudformation.DescribeChangeSetOutput
	err = poll(ctx, p.Poll, func() (bool, error) {
		d, err := c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String(cs.id)})
		if err != nil {
			return false, fmt.Errorf("describe the change set: %w", err)
		}
		desc = d
		return d.Status == cfntypes.ChangeSetStatusCreateComplete || d.Status == cfntypes.ChangeSetStatusFailed, nil
	})
	if err != nil {
		return nil, err
	}
	if desc.Status == cfntypes.ChangeSetStatusFailed {
		reason := aws.ToString(desc.StatusReason)
		_, _ = c.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: aws.String(cs.id)})
		if isNoChange(reason) {
			if st != nil {
				p.res.Outputs = outputsOf(st.Outputs)
			}
			writeUpToDate(p.Out, p.res)
			return nil, nil
		}
		return nil, fmt.Errorf("the change set for stack %s failed: %s", p.Stack, reason)
	}
	changes := desc.Changes
	for token := desc.NextToken; token != nil; {
		more, err := c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String(cs.id), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("describe the change set: %w", err)
		}
		changes, token = append(changes, more.Changes...), more.NextToken
	}
	verb := map[cfntypes.ChangeSetType]string{cfntypes.ChangeSetTypeCreate: ActionCreate, cfntypes.ChangeSetTypeUpdate: ActionUpdate}[typ]
	p.res.Action = ActionDryRun
	p.res.ChangeSet = &ChangeSet{Type: verb, Parameters: parameterChanges(prev, want, st == nil), Resources: resourceChanges(changes)}
	writeChangeSet(p.Out, p.res)
	return cs, nil
}

// resourceChanges are what CloudFormation will add, modify or remove.
func resourceChanges(changes []cfntypes.Change) []ResourceChange {
	var out []ResourceChange
	for _, ch := range changes {
		rc := ch.ResourceChange
		if rc == nil {
			continue
		}
		out = append(out, ResourceChange{Action: string(rc.Action), LogicalID: aws.ToString(rc.LogicalResourceId),
			Type: aws.ToString(rc.ResourceType), Replacement: string(rc.Replacement)})
	}
	return out
}

// discard deletes a change set of a dry run, and the empty stack a
// change set to create leaves behind (REVIEW_IN_PROGRESS).
func (p *plan) discard(ctx context.Context, c *cloudformation.Client, cs *changeSet, created bool) error {
	if _, err := c.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: aws.String(cs.id)}); err != nil {
		return fmt.Errorf("delete the change set of the dry run: %w", err)
	}
	if created {
		if err := deleteAndWait(ctx, c, p.Poll, cs.stackID); err != nil {
			return err
		}
	}
	writeDryRunDone(p.Out)
	return nil
}

// apply creates or updates the stack with CreateStack or UpdateStack,
// waits for it, writes its outputs and, when asked, the first run. (The
// change set a dry run shows is not executed: the result is the same, and
// moto, which the tests deploy to, gives a stack made from a change set no
// outputs.)
func (p *plan) apply(ctx context.Context, c clients, st *cfntypes.Stack, want map[string]string) error {
	create := st == nil
	verb := map[bool]string{true: ActionCreate, false: ActionUpdate}[create]
	prev := p.stackParameters(st)
	p.res.Action = verb
	p.res.ChangeSet = &ChangeSet{Type: verb, Parameters: parameterChanges(prev, want, create)}
	writeChangeSet(p.Out, p.res)
	start := time.Now()
	params := p.parameters(want, prev)
	caps := []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}
	var id string
	if create {
		out, err := c.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(p.Stack),
			TemplateBody: aws.String(p.template), Parameters: params, Capabilities: caps})
		if err != nil {
			return p.refused(err)
		}
		id = aws.ToString(out.StackId)
	} else {
		out, err := c.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: st.StackId,
			TemplateBody: aws.String(p.template), Parameters: params, Capabilities: caps})
		if err != nil {
			if isNoChange(err.Error()) {
				p.res.Action, p.res.Status, p.res.Outputs = ActionNone, string(st.StackStatus), outputsOf(st.Outputs)
				writeUpToDate(p.Out, p.res)
				return nil
			}
			return p.refused(err)
		}
		id = aws.ToString(out.StackId)
	}
	p.logf("waiting for stack %s", p.Stack)
	done, err := waitStack(ctx, c.cfn, p.Poll, id)
	if err != nil {
		return err
	}
	status := string(done.StackStatus)
	p.res.Status = status
	p.res.ElapsedSeconds = int64(time.Since(start).Round(time.Second) / time.Second)
	if ok := strings.ToUpper(verb) + "_COMPLETE"; status != ok {
		p.res.Failures, p.res.EventsError = failures(ctx, c.cfn, id, start)
		writeFailures(p.Out, p.res)
		return fmt.Errorf("stack %s ended %s: %s", p.Stack, status, aws.ToString(done.StackStatusReason))
	}
	p.res.Outputs = outputsOf(done.Outputs)
	writeDone(p.Out, p.res)
	if !p.FirstRun {
		return nil
	}
	p.res.FirstRun = &FirstRun{Function: output(done, "FunctionName"), LogGroup: output(done, "LogGroupName")}
	err = firstRun(ctx, c.lambda, p.res.FirstRun)
	writeFirstRun(p.Out, p.res.FirstRun)
	return err
}

// refused turns CloudFormation's refusal of a template's parameters (its
// Rules, patterns, limits) into a usage error.
func (p *plan) refused(err error) error {
	if apiCode(err) == "ValidationError" {
		return &UsageError{Err: fmt.Errorf("CloudFormation refused the deploy of stack %s: %w", p.Stack, err)}
	}
	return fmt.Errorf("deploy stack %s: %w", p.Stack, err)
}

func output(st *cfntypes.Stack, key string) string {
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) == key {
			return aws.ToString(o.OutputValue)
		}
	}
	return ""
}

// waitStack waits until the stack is in no _IN_PROGRESS status.
func waitStack(ctx context.Context, c *cloudformation.Client, interval time.Duration, id string) (*cfntypes.Stack, error) {
	var st *cfntypes.Stack
	err := poll(ctx, interval, func() (bool, error) {
		out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(id)})
		if err != nil {
			return false, fmt.Errorf("describe the stack: %w", err)
		}
		if len(out.Stacks) == 0 {
			return false, errGone
		}
		st = &out.Stacks[0]
		return !strings.HasSuffix(string(st.StackStatus), "_IN_PROGRESS"), nil
	})
	return st, err
}

// deleteAndWait deletes a stack and waits until it is gone.
func deleteAndWait(ctx context.Context, c *cloudformation.Client, interval time.Duration, id string) error {
	if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(id)}); err != nil {
		return fmt.Errorf("delete the stack: %w", err)
	}
	st, err := waitStack(ctx, c, interval, id)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") || errors.Is(err, errGone) {
			return nil
		}
		return err
	}
	if st.StackStatus != cfntypes.StackStatusDeleteComplete {
		return fmt.Errorf("the stack did not delete: %s: %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	return nil
}

var errGone = errors.New("the stack is gone")

// failures are the resources that failed since start, oldest first, or
// why the stack's events cannot be read.
func failures(ctx context.Context, c *cloudformation.Client, id string, start time.Time) ([]ResourceFailure, string) {
	var failed []ResourceFailure
	p := cloudformation.NewDescribeStackEventsPaginator(c, &cloudformation.DescribeStackEventsInput{StackName: aws.String(id)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err.Error()
		}
		done := false
		for _, e := range page.StackEvents {
			if e.Timestamp != nil && e.Timestamp.Before(start.Add(-time.Minute)) {
				done = true
				break
			}
			if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") {
				failed = append(failed, ResourceFailure{Status: string(e.ResourceStatus), LogicalID: aws.ToString(e.LogicalResourceId),
					Type: aws.ToString(e.ResourceType), Reason: aws.ToString(e.ResourceStatusReason)})
			}
		}
		if done {
			break
		}
	}
	slices.Reverse(failed)
	return failed, ""
}

// lineDiff is a line diff of two short texts: unchanged lines with two
// spaces, removed ones with "- ", added ones with "+ ".
func lineDiff(a, b string) []string {
	x, y := strings.Split(strings.TrimRight(a, "\n"), "\n"), strings.Split(strings.TrimRight(b, "\n"), "\n")
	// lcs[i][j] is the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, "  "+x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+x[i])
			i++
		default:
			out = append(out, "+ "+y[j])
			j++
		}
	}
	return out
}

// withContext keeps the changed lines of a lineDiff and n unchanged lines
// around each; "…" stands for the lines left out.
func withContext(diff []string, n int) []string {
	keep := make([]bool, len(diff))
	for i, l := range diff {
		if !strings.HasPrefix(l, "  ") {
			for j := max(0, i-n); j <= min(len(diff)-1, i+n); j++ {
				keep[j] = true
			}
		}
	}
	var out []string
	for i, l := range diff {
		switch {
		case keep[i]:
			out = append(out, l)
		case i == 0 || keep[i-1]:
			out = append(out, "  …")
		}
	}
	return out
}
