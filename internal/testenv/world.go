package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/tgsync/tgsync/dns/dnstest"
)

// DNS starts a DNS server on loopback for the test; it closes when the
// test ends.
func DNS(t testing.TB) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatalf("start DNS server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// World is what a test of the whole of tgsync runs against: its part of
// the shared moto server (a VPC of 10.0.0.0/16 and a state bucket) and a
// DNS server of its own.
type World struct {
	Moto   *Moto
	VPC    *VPC
	Bucket string
	DNS    *dnstest.Server
}

// NewWorld makes the test's World; its bucket is named after
// bucketPrefix.
func NewWorld(t testing.TB, bucketPrefix string) *World {
	t.Helper()
	m := StartMoto(t)
	cfg := m.AWSConfig()
	return &World{Moto: m, VPC: NewVPC(t, cfg, "10.0.0.0/16"), Bucket: Bucket(t, cfg, bucketPrefix), DNS: DNS(t)}
}

// Send sends a request without a body to url and returns the response
// and its body, read whole and closed.
func Send(t testing.TB, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// EditJSON decodes the JSON object data, lets edit change it, and encodes
// it again: a sample event with a field changed.
func EditJSON(t testing.TB, data []byte, edit func(obj map[string]any)) []byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	edit(obj)
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Testdata returns the file name of the test's package's testdata
// directory.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
