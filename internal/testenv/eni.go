package testenv

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Interface is a network interface to create in moto, as a load balancer
// or an OpenSearch domain creates its own: a description, private
// addresses, tags.
type Interface struct {
	Subnet      string
	Description string
	// IPs are its private IPv4 addresses, the first the primary one;
	// empty lets moto choose one.
	IPs  []string
	Tags map[string]string
	// InUse attaches it to an instance: moto, as EC2, shows an attached
	// interface as in-use and a detached one as available.
	InUse bool
}

// Interface creates a network interface and returns its ID.
func (v *VPC) Interface(t testing.TB, spec Interface) string {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	in := &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(spec.Subnet), Description: aws.String(spec.Description)}
	for i, ip := range spec.IPs {
		in.PrivateIpAddresses = append(in.PrivateIpAddresses, ec2types.PrivateIpAddressSpecification{
			PrivateIpAddress: aws.String(ip), Primary: aws.Bool(i == 0)})
	}
	if len(spec.Tags) > 0 {
		ts := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeNetworkInterface}
		for k, val := range spec.Tags {
			ts.Tags = append(ts.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(val)})
		}
		in.TagSpecifications = []ec2types.TagSpecification{ts}
	}
	out, err := v.EC2.CreateNetworkInterface(ctx, in)
	if err != nil {
		t.Fatalf("create network interface %q: %v", spec.Description, err)
	}
	id := aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	if spec.InUse {
		v.Attach(t, id, spec.Subnet)
	}
	return id
}

// Attach attaches an interface to an instance of its subnet, started for
// it, so that the interface is in-use.
func (v *VPC) Attach(t testing.TB, id, subnet string) {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	run, err := v.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"),
		InstanceType: ec2types.InstanceTypeT3Micro, SubnetId: aws.String(subnet), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatalf("run an instance to attach %s to: %v", id, err)
	}
	if _, err := v.EC2.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(id),
		InstanceId: run.Instances[0].InstanceId, DeviceIndex: aws.Int32(1)}); err != nil {
		t.Fatalf("attach %s: %v", id, err)
	}
}

// DeleteInterface deletes an interface, as its service does when a node
// goes away. An attached interface is detached first.
func (v *VPC) DeleteInterface(t testing.TB, id string) {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	out, err := v.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	if a := out.NetworkInterfaces[0].Attachment; a != nil {
		if _, err := v.EC2.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{AttachmentId: a.AttachmentId}); err != nil {
			t.Fatalf("detach %s: %v", id, err)
		}
	}
	if _, err := v.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)}); err != nil {
		t.Fatalf("delete %s: %v", id, err)
	}
}
