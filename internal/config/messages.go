package config

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Messages never repeat a string or number from the file or the
// environment: --config may name a file that is no tgsync config at all (a
// .env file with passwords, a JSON secret), and errors end up in logs. They
// name the key path and line instead, and quote at most a key, clipped.

// describe says what kind of value a node is, for type errors, without its
// value.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "got a mapping"
	case yaml.SequenceNode:
		return "got a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "got nothing"
		case "!!str":
			return "got a string"
		case "!!int", "!!float":
			return "got a number"
		case "!!bool":
			return "got a boolean"
		default:
			return "got a value with a custom tag; tgsync reads plain YAML and does not resolve tags such as !Ref"
		}
	}
	return "got an unexpected YAML node"
}

// clip shortens a key from the file for a message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quote(s string) string { return strconv.Quote(clip(s)) }

// suggest returns the known key closest to key: the same name in another
// case, or one within two edits; "" when none is that close.
func suggest(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := EditDistance(key, k); d < bestDist && d < len(k) && d < len(key) {
			best, bestDist = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance in characters, giving up early
// (returning 3) when the lengths alone differ by more than two: callers
// that suggest a name ("did you mean") want only near ones.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 2 || d < -2 {
		return 3
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// yamlMessage is the parser's message without what it quotes from the
// file. Its syntax messages are fixed texts, except for the ones about
// anchors, which name one, and a panic caught in yamlDecode; its other
// messages quote values in `...` or "..." (cannot unmarshal !!str `...`),
// which are cut in case a later version reports them here.
func yamlMessage(msg string) string {
	switch {
	case strings.HasPrefix(msg, "unknown anchor "):
		return "an alias (*name) refers to an anchor (&name) that is not defined before it"
	case strings.HasPrefix(msg, "anchor ") && strings.HasSuffix(msg, " value contains itself"):
		return "an anchor's value contains an alias of itself"
	case strings.HasPrefix(msg, panicked):
		return "the YAML parser failed on this file"
	}
	return yamlQuoted.ReplaceAllString(msg, "…")
}

// yamlQuoted matches values the parser quotes. Single quotes are left
// alone: the fixed messages quote single characters with them ("did not
// find expected ',' or ']'").
var yamlQuoted = regexp.MustCompile("`[^`]*`|\"[^\"]*\"")

// panicked starts the message of a panic in the parser.
const panicked = "parser panicked: "
