package ecsevent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/tgsync/tgsync"
)

// Stop codes that announce a Fargate Spot interruption; older documents
// and code use TerminationNotice.
const (
	StopCodeSpotInterruption  = "SpotInterruption"
	StopCodeTerminationNotice = "TerminationNotice"
)

// StatusStopped is the task status of a stopped task, desired or last.
const StatusStopped = "STOPPED"

// DefaultStopCodes are the stop codes a Filter without any matches.
func DefaultStopCodes() []string {
	return []string{StopCodeSpotInterruption, StopCodeTerminationNotice}
}

// Filter selects the task events to act on. Empty fields match everything,
// except StopCodes, which defaults to DefaultStopCodes.
type Filter struct {
	StopCodes []string
	// Clusters are cluster ARNs.
	Clusters []string
	// Group is the task group, e.g. service:logstash.
	Group string
	// ContainerName requires the task to have a container of this name;
	// then only its network interfaces count, besides the task ENI.
	ContainerName string
}

// Decide says whether an event announces a task that must leave its target
// groups now, and why. It acts on an ECS Task State Change whose stopCode
// is one of the filter's, whose desiredStatus is STOPPED and whose
// lastStatus is not yet STOPPED, and that passes the cluster, group and
// container filters:
//
//	event                                  | act | reason says
//	---------------------------------------+-----+-------------------------------
//	other ECS detail type                  | no  | not a task state change
//	cluster, group or container filtered   | no  | which filter, and the value
//	stopCode not configured (or none)      | no  | the stop code and the codes
//	desiredStatus not STOPPED              | no  | the desired status
//	lastStatus STOPPED                     | no  | already stopped; IP may be reused
//	no IP address in the event             | no  | where it looked
//	otherwise                              | yes | stop code, reason, version
//
// A matching event without any IP address is ignored rather than failed:
// a task that never got an address cannot be a target, and retrying the
// same event cannot find one. The reason says so, for the log.
//
// The Task is filled in for every task event, so that an ignored event
// can be logged with its task ARN; its IPs and Reason are set only when
// act is true. IPs come from the task's eni attachments
// (privateIPv4Address, ipv6Address) and the containers' network
// interfaces (privateIpv4Address, ipv6Address), without duplicates.
func Decide(ev *Event, f Filter) (task tgsync.Task, act bool, reason string) {
	if ev == nil {
		return task, false, "no event"
	}
	d := ev.Task
	if d == nil {
		return task, false, fmt.Sprintf("ECS event of detail-type %q is not a task state change", ev.DetailType)
	}
	task = tgsync.Task{ARN: d.TaskARN, Version: d.Version, EventTime: ev.Time}
	codes := f.StopCodes
	if len(codes) == 0 {
		codes = DefaultStopCodes()
	}
	switch {
	case len(f.Clusters) > 0 && !slices.Contains(f.Clusters, d.ClusterARN):
		return task, false, fmt.Sprintf("task %s is in cluster %s, not in the configured clusters %s", d.TaskARN, orNone(d.ClusterARN), strings.Join(f.Clusters, ", "))
	case f.Group != "" && d.Group != f.Group:
		return task, false, fmt.Sprintf("task %s is in group %s, not in the configured group %q", d.TaskARN, orNone(d.Group), f.Group)
	case d.StopCode == "":
		return task, false, fmt.Sprintf("task %s has no stopCode (desiredStatus %s, lastStatus %s): it is not being stopped", d.TaskARN, orNone(d.DesiredStatus), orNone(d.LastStatus))
	case !slices.Contains(codes, d.StopCode):
		return task, false, fmt.Sprintf("task %s is stopping with stopCode %s%s, not one of %s", d.TaskARN, d.StopCode, because(d.StoppedReason), strings.Join(codes, ", "))
	case d.DesiredStatus != StatusStopped:
		return task, false, fmt.Sprintf("task %s has stopCode %s but desiredStatus %s, not %s", d.TaskARN, d.StopCode, orNone(d.DesiredStatus), StatusStopped)
	case d.LastStatus == StatusStopped:
		return task, false, fmt.Sprintf("task %s has already stopped (lastStatus %s, version %d): its IP may belong to another task by now, so nothing is deregistered", d.TaskARN, StatusStopped, d.Version)
	}
	if f.ContainerName != "" && !slices.ContainsFunc(d.Containers, func(c Container) bool { return c.Name == f.ContainerName }) {
		return task, false, fmt.Sprintf("task %s has no container named %q", d.TaskARN, f.ContainerName)
	}
	ips := d.Addresses(f.ContainerName)
	if len(ips) == 0 {
		where := "no eni attachment with privateIPv4Address or ipv6Address and no container network interface"
		if f.ContainerName != "" {
			where = fmt.Sprintf("no eni attachment with privateIPv4Address or ipv6Address and no network interface of container %q", f.ContainerName)
		}
		return task, false, fmt.Sprintf("task %s is stopping with stopCode %s (lastStatus %s) but the event carries no IP address (%s): a task without an address is no target, so there is nothing to deregister",
			d.TaskARN, d.StopCode, orNone(d.LastStatus), where)
	}
	task.IPs = ips
	task.Reason = fmt.Sprintf("task %s is stopping with stopCode %s%s (lastStatus %s, event version %d); deregistering it before it stops",
		d.TaskARN, d.StopCode, because(d.StoppedReason), orNone(d.LastStatus), d.Version)
	return task, true, task.Reason
}

// Addresses returns the task's IP addresses, sorted and without
// duplicates: those of its eni attachments and those of its containers'
// network interfaces. With a container name, only that container's network
// interfaces count, besides the attachments. Addresses that do not parse
// are left out (Parse has rejected them already).
func (d *TaskDetail) Addresses(container string) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if s == "" {
			return
		}
		if a, err := parseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	for _, a := range d.Attachments {
		if !isENI(a.Type) {
			continue
		}
		for _, kv := range a.Details {
			if isAddressDetail(kv.Name) {
				add(kv.Value)
			}
		}
	}
	for _, c := range d.Containers {
		if container != "" && c.Name != container {
			continue
		}
		for _, ni := range c.NetworkInterfaces {
			add(ni.PrivateIPv4Address)
			add(ni.IPv6Address)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// isENI recognises the task ENI: "eni" in events, ElasticNetworkInterface
// in DescribeTasks output that some tools forward as events.
func isENI(typ string) bool {
	return strings.EqualFold(typ, "eni") || strings.EqualFold(typ, "ElasticNetworkInterface")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", reason)
}
