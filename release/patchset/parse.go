package patchset

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
)

// patch is what this package needs to know about one git format-patch file.
type patch struct {
	Subject string
	// Body is the commit message without its subject and trailers: the explanation.
	Body  string
	Files []fileDiff
}

// fileDiff is the part of a patch that changes one file.
type fileDiff struct {
	OldName, NewName string // relative to the module root; empty for /dev/null
	Hunks            []hunk
}

type hunk struct {
	Header           string // the whole @@ line
	OldStart         int
	Added, Removed   int
	oldLeft, newLeft int // lines still to read while parsing
}

func (f fileDiff) name() string {
	if f.NewName != "" {
		return f.NewName
	}
	return f.OldName
}

// Added and Removed count the changed lines of the whole patch.
func (p patch) changed() (added, removed int) {
	for _, f := range p.Files {
		for _, h := range f.Hunks {
			added += h.Added
			removed += h.Removed
		}
	}
	return added, removed
}

var (
	hunkHeader    = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@`)
	subjectPrefix = regexp.MustCompile(`^\[PATCH[^\]]*\]\s*`)
	trailerLine   = regexp.MustCompile(`^[A-Za-z0-9-]+: \S`)
)

// parsePatch reads a git format-patch file: mail headers, the commit message, then the diff.
// Hunks are read by the line counts in their headers, so a removed line that happens to read
// "-- " is not mistaken for the signature separator.
func parsePatch(data []byte) (patch, error) {
	var p patch
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	lineNo := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return strings.TrimSuffix(sc.Text(), "\r"), true
	}

	// Mail headers, up to the first empty line. Only Subject matters; it may be folded.
	var subject strings.Builder
	inSubject, sawHeader := false, false
	line, ok := next()
	if ok && strings.HasPrefix(line, "From ") {
		line, ok = next()
	}
	for ; ok && line != ""; line, ok = next() {
		sawHeader = true
		switch {
		case inSubject && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			subject.WriteString(line)
		case strings.HasPrefix(line, "Subject: "):
			inSubject = true
			subject.WriteString(strings.TrimPrefix(line, "Subject: "))
		default:
			inSubject = false
		}
	}
	if !sawHeader || subject.Len() == 0 {
		return p, fmt.Errorf("not a git format-patch file: no Subject header")
	}
	decoded, err := new(mime.WordDecoder).DecodeHeader(subject.String())
	if err != nil {
		decoded = subject.String()
	}
	p.Subject = subjectPrefix.ReplaceAllString(strings.TrimSpace(decoded), "")

	// The message body ends at the "---" line before the diffstat, or at the diff itself.
	var body []string
	for line, ok = next(); ok; line, ok = next() {
		if line == "---" || strings.HasPrefix(line, "diff --git ") {
			break
		}
		body = append(body, line)
	}
	p.Body = explanation(body)

	var cur *fileDiff
	var h *hunk
	for ; ok; line, ok = next() {
		if h != nil {
			switch {
			case strings.HasPrefix(line, "\\"): // "\ No newline at end of file"
				continue
			case strings.HasPrefix(line, "+"):
				h.Added++
				h.newLeft--
			case strings.HasPrefix(line, "-"):
				h.Removed++
				h.oldLeft--
			case strings.HasPrefix(line, " ") || line == "":
				h.oldLeft--
				h.newLeft--
			default:
				return p, fmt.Errorf("line %d: hunk %q of %s ends early", lineNo, h.Header, cur.name())
			}
			if h.oldLeft < 0 || h.newLeft < 0 {
				return p, fmt.Errorf("line %d: hunk %q of %s is longer than its header says", lineNo, h.Header, cur.name())
			}
			if h.oldLeft == 0 && h.newLeft == 0 {
				h = nil
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "diff --git "):
			p.Files = append(p.Files, fileDiff{})
			cur = &p.Files[len(p.Files)-1]
		case cur == nil:
			// diffstat, or text before the first diff
		case strings.HasPrefix(line, "--- ") && len(cur.Hunks) == 0:
			cur.OldName = diffName(strings.TrimPrefix(line, "--- "), "a/")
		case strings.HasPrefix(line, "+++ ") && len(cur.Hunks) == 0:
			cur.NewName = diffName(strings.TrimPrefix(line, "+++ "), "b/")
		case strings.HasPrefix(line, "rename from "):
			cur.OldName = unquote(strings.TrimPrefix(line, "rename from "))
		case strings.HasPrefix(line, "rename to "):
			cur.NewName = unquote(strings.TrimPrefix(line, "rename to "))
		case strings.HasPrefix(line, "@@ "):
			m := hunkHeader.FindStringSubmatch(line)
			if m == nil {
				return p, fmt.Errorf("line %d: malformed hunk header %q", lineNo, line)
			}
			cur.Hunks = append(cur.Hunks, hunk{
				Header:   line,
				OldStart: atoi(m[1], 0),
				oldLeft:  atoi(m[2], 1),
				newLeft:  atoi(m[4], 1),
			})
			h = &cur.Hunks[len(cur.Hunks)-1]
			if h.oldLeft == 0 && h.newLeft == 0 {
				h = nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return p, err
	}
	if h != nil {
		return p, fmt.Errorf("hunk %q of %s is cut short at the end of the file", h.Header, cur.name())
	}
	if len(p.Files) == 0 {
		return p, fmt.Errorf("patch %q has no diff", p.Subject)
	}
	return p, nil
}

// explanation returns the message body without blank edges and without a closing block of
// trailers (Signed-off-by: and the like), which explain nothing.
func explanation(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	start := len(lines)
	for start > 0 && strings.TrimSpace(lines[start-1]) != "" {
		start--
	}
	trailers := start < len(lines)
	for _, l := range lines[start:] {
		if !trailerLine.MatchString(l) {
			trailers = false
		}
	}
	if trailers {
		lines = lines[:start]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// diffName turns the name on a ---/+++ line into a path relative to the module root.
func diffName(s, prefix string) string {
	s = unquote(strings.TrimSpace(s))
	if s == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(s, prefix)
}

// unquote undoes git's C-style quoting of unusual file names.
func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}

func atoi(s string, empty int) int {
	if s == "" {
		return empty
	}
	n, _ := strconv.Atoi(s)
	return n
}
