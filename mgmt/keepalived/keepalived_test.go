package keepalived

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"  real_server 198.18.1.2 80 {", []string{"real_server", "198.18.1.2", "80", "{"}},
		{"weight 1 ! a comment", []string{"weight", "1"}},
		{"# all comment", nil},
		{"url{path /x}", []string{"url", "{", "path", "/x", "}"}},
		{`helo_name "foo bar.com" # quoted`, []string{"helo_name", "foo bar.com"}},
		{`misc_path "/bin/check -a 1`, []string{"misc_path", "/bin/check -a 1"}}, // unclosed quote: to the end
		{"\tinhibit_on_failure\r", []string{"inhibit_on_failure"}},
	} {
		if got := splitLine(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// mapFiles is a Files over a map.
type mapFiles map[string]string

func (m mapFiles) ReadFile(p string) ([]byte, error) {
	if s, ok := m[p]; ok {
		return []byte(s), nil
	}
	return nil, &notFound{p}
}

func (m mapFiles) Glob(p string) ([]string, error) {
	if _, ok := m[p]; ok {
		return []string{p}, nil
	}
	return nil, nil
}

type notFound struct{ p string }

func (e *notFound) Error() string { return e.p + ": no such file" }

// TestGroups: a virtual_server_group's ranges (the last byte of IPv4, the last group of IPv6, in
// hexadecimal) make one service each; a range too long or backwards is named, not expanded.
func TestGroups(t *testing.T) {
	conf := `virtual_server_group G {
	198.18.0.10-12 80
	2001:2::a-c 443
	198.18.0.20-10 80
	2001:2::1-200 80
	fwmark 7
}
virtual_server group G {
	protocol TCP
	real_server 198.18.1.2 8080 {
	}
}`
	res, err := Import("k.conf", mapFiles{"k.conf": conf})
	if err != nil {
		t.Fatal(err)
	}
	var svcs []string
	for _, l := range res.Lines {
		if strings.HasPrefix(l.Text, "-A ") {
			svcs = append(svcs, strings.TrimPrefix(l.Text, "-A -t "))
		}
	}
	want := []string{"198.18.0.10:80", "198.18.0.11:80", "198.18.0.12:80", "[2001:2::a]:443", "[2001:2::b]:443", "[2001:2::c]:443"}
	if !slices.Equal(svcs, want) {
		t.Errorf("services %v, want %v", svcs, want)
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	for _, w := range []string{"k.conf:4: virtual_server_group range 198.18.0.20-10", "k.conf:5: virtual_server_group range 2001:2::1-200",
		"k.conf:6: virtual_server_group entry fwmark 7 not translated"} {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("no note %q in %q", w, notes)
		}
	}
}

// TestBounded: a group of 256 addresses used by many virtual servers stops at maxLines, named,
// and so do includes that include each other.
func TestBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("virtual_server_group G {\n 198.18.0.0-255 80\n}\n")
	for range 1000 {
		b.WriteString("virtual_server group G {\n real_server 198.18.1.2 80 {\n }\n}\n")
	}
	res, err := Import("k.conf", mapFiles{"k.conf": b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lines) > maxLines || !slices.ContainsFunc(res.Notes, func(n Note) bool { return strings.Contains(n.Text, "more than any director holds") }) {
		t.Errorf("%d lines, notes %v", len(res.Lines), len(res.Notes))
	}
	loop := strings.Repeat("include b.conf\n", 20)
	if _, err := Import("a.conf", mapFiles{"a.conf": loop, "b.conf": strings.Repeat("include a.conf\n", 20)}); err == nil ||
		!strings.Contains(err.Error(), "nested deeper") && !strings.Contains(err.Error(), "files included") {
		t.Errorf("includes that include each other: %v", err)
	}
}
