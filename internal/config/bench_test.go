package config

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkParseExample(b *testing.B) {
	data := exampleWithYourARNs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// bigConfig is n shared bindings on one target group, about 8 lines each.
func bigConfig(n int) string {
	var sb strings.Builder
	sb.WriteString("bindings:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - name: b%d\n    source: {dns: b%d.internal.example}\n    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef\n    ports: [443]\n    shared: true\n    deregister:\n      afterMisses: 3\n      afterDuration: 3m\n", i, i)
	}
	return sb.String()
}

func BenchmarkParse100Bindings(b *testing.B) {
	data := []byte(bigConfig(100))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSyntaxErrorAtEnd is the worst case of locating a syntax
// error: the parser is run on every prefix of a file of ~800 lines.
func BenchmarkParseSyntaxErrorAtEnd(b *testing.B) {
	data := []byte(bigConfig(100) + "    ports: [443\n")
	for b.Loop() {
		if _, err := Parse(data); err == nil {
			b.Fatal("parsed")
		}
	}
}

// BenchmarkParseIndentErrorAtEnd is the worst case: the parser blames the
// start of the bindings list, so every prefix is parsed.
func BenchmarkParseIndentErrorAtEnd(b *testing.B) {
	data := []byte(bigConfig(100) + "   shared: true\n")
	for b.Loop() {
		if _, err := Parse(data); err == nil {
			b.Fatal("parsed")
		}
	}
}
