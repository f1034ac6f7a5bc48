package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// setting is one key of a configuration file, already turned into flag strings.
type setting struct {
	name, key string
	file      string
	line      int
	list      bool // values came from a YAML list or mapping
	values    []string
	appendTo  bool // the key was "name+"
}

// parseFile reads one configuration file into settings keyed by flag name.
func parseFile(path string, data []byte, flags *pflag.FlagSet) ([]*setting, []Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []Problem{{Source: path, Message: "malformed YAML: " + err.Error()}}
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []Problem{{Source: path, Line: root.Line, Message: "expected a mapping of flag names to values at the top level"}}
	}

	var settings []*setting
	var problems []Problem
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		keyNode, valueNode := root.Content[i], root.Content[i+1]
		key := keyNode.Value
		problem := func(msg string) {
			problems = append(problems, Problem{Source: path, Line: keyNode.Line, Key: key, Message: msg})
		}
		if keyNode.Kind != yaml.ScalarNode {
			problem("key is not a plain name")
			continue
		}
		name, appendTo := strings.CutSuffix(key, "+")
		if line, dup := seen[key]; dup {
			problem(fmt.Sprintf("set twice in this file (first on line %d)", line))
			continue
		}
		seen[key] = keyNode.Line
		if name == ConfigFlag {
			problem("the configuration file cannot be chosen from inside a configuration file")
			continue
		}
		f := flags.Lookup(name)
		if f == nil {
			msg := "unknown key"
			if s := suggest(name, flags); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			problem(msg)
			continue
		}
		s := &setting{name: name, key: key, file: path, line: keyNode.Line, appendTo: appendTo}
		if appendTo && !isMulti(f.Value) {
			problem(fmt.Sprintf("\"+\" appends to lists, but %s holds %s", name, describeType(f.Value.Type())))
			continue
		}
		if msg := s.read(valueNode, f.Value); msg != "" {
			problem(msg)
			continue
		}
		settings = append(settings, s)
	}
	return settings, problems
}

// read converts a YAML value into strings the flag's Set understands.
func (s *setting) read(n *yaml.Node, v pflag.Value) string {
	expected := "expected " + describeType(v.Type())
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "no value given; " + expected
		}
		s.values = []string{n.Value}
	case yaml.SequenceNode:
		if !isMulti(v) {
			return expected + ", got a list"
		}
		s.list = true
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return fmt.Sprintf("list item on line %d is not a plain value; %s", item.Line, expected)
			}
			s.values = append(s.values, item.Value)
		}
	case yaml.MappingNode:
		if !isMulti(v) {
			return expected + ", got a mapping"
		}
		s.list = true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				return fmt.Sprintf("entry on line %d is not key: value; %s", k.Line, expected)
			}
			s.values = append(s.values, k.Value+"="+val.Value)
		}
	default:
		return expected
	}
	return ""
}

// appended returns prev with next's values added, for "name+" keys in later files.
func (prev *setting) appended(next *setting) *setting {
	out := *next
	out.list = true
	out.values = append(slices.Clone(prev.values), next.values...)
	return &out
}

// apply sets the flag from the setting.
func (s *setting) apply(f *pflag.Flag) *Problem {
	var err error
	var bad string
	switch sv, isSlice := f.Value.(pflag.SliceValue); {
	case s.list && isSlice:
		// Some Replace implementations skip validation (pflag's ipSlice), so each item goes
		// through Set first to be checked; Replace then sets the list exactly, keeping each item
		// whole where Set would split it at commas.
		for _, v := range s.values {
			if err = f.Value.Set(v); err != nil {
				bad = v
				break
			}
		}
		if err == nil {
			bad = strings.Join(s.values, ", ")
			err = sv.Replace(s.values)
		}
	default:
		// One Set per item: multi-valued flags such as key=value maps merge repeated Sets.
		for _, v := range s.values {
			if err = f.Value.Set(v); err != nil {
				bad = v
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	return &Problem{Source: s.file, Line: s.line, Key: s.key,
		Message: fmt.Sprintf("invalid value %q: expected %s (%v)", bad, describeType(f.Value.Type()), err)}
}

// isMulti says whether a flag takes several values: slices, arrays and key=value maps.
func isMulti(v pflag.Value) bool {
	if _, ok := v.(pflag.SliceValue); ok {
		return true
	}
	t := v.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array") || strings.HasPrefix(t, "stringTo")
}

var typeDescriptions = map[string]string{
	"bool":           "true or false",
	"string":         "a string",
	"int":            "an integer",
	"int8":           "an integer",
	"int16":          "an integer",
	"int32":          "an integer",
	"int64":          "an integer",
	"uint":           "a non-negative integer",
	"uint8":          "a non-negative integer",
	"uint16":         "a non-negative integer",
	"uint32":         "a non-negative integer",
	"uint64":         "a non-negative integer",
	"float32":        "a number",
	"float64":        "a number",
	"duration":       "a duration such as 30s, 5m or 1h30m",
	"ip":             "an IP address",
	"ipNet":          "a CIDR such as 10.42.0.0/16",
	"stringSlice":    "a list of strings",
	"stringArray":    "a list of strings",
	"ipSlice":        "a list of IP addresses",
	"ipNetSlice":     "a list of CIDRs",
	"intSlice":       "a list of integers",
	"durationSlice":  "a list of durations",
	"boolSlice":      "a list of true/false values",
	"stringToString": "key=value pairs (a mapping or a list of key=value)",
	"stringToInt":    "key=integer pairs",
	"stringToInt64":  "key=integer pairs",
}

func describeType(t string) string {
	if d, ok := typeDescriptions[t]; ok {
		return d
	}
	return "a value of type " + t
}

// suggest returns the flag name closest to an unknown key, or "" when none is close.
func suggest(key string, flags *pflag.FlagSet) string {
	normal := strings.ToLower(strings.ReplaceAll(key, "_", "-"))
	best, bestDist := "", 0
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name == ConfigFlag || f.Hidden {
			return
		}
		d := editDistance(normal, f.Name)
		if best == "" || d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" || bestDist > max(2, len(key)/3) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
