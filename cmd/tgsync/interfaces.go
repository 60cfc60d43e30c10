package main

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/config"
)

// interfaceSources builds the network-interface source of every binding
// that has one, by binding name, over one EC2 client. A config without
// any makes no client: tgsync then needs no EC2 permission.
func interfaceSources(cfg *config.Config, awsCfg aws.Config) (*eni.Lister, map[string]*eni.Source, error) {
	if !cfg.UsesInterfaces() {
		return nil, nil, nil
	}
	lister := eni.NewLister(ec2.NewFromConfig(awsCfg))
	out := map[string]*eni.Source{}
	for _, b := range cfg.Bindings {
		src, err := interfaceSource(lister, b.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("binding %s: %w", b.Name, err)
		}
		if src != nil {
			out[b.Name] = src
		}
	}
	return lister, out, nil
}

// interfaceSource is the interface source a binding's config sets, or nil.
func interfaceSource(l *eni.Lister, s config.Source) (*eni.Source, error) {
	switch {
	case s.LoadBalancer != "":
		return eni.LoadBalancer(l, s.LoadBalancer)
	case s.OpenSearch != "":
		return eni.OpenSearch(l, s.OpenSearch)
	case s.NetworkInterfaces != nil:
		return eni.Matching(l, eni.Filters(s.NetworkInterfaces.Filters))
	}
	return nil, nil
}

// bindingSource is a binding's source: its DNS name, its interfaces, or
// both united (tgsync.Union).
func bindingSource(dns tgsync.Source, ifc *eni.Source) tgsync.Source {
	if ifc == nil {
		return dns
	}
	return tgsync.Union(dns, ifc)
}
