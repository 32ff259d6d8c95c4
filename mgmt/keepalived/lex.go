package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files is where Read finds the configuration: the operating system's files by default; tests
// give a map.
type Files interface {
	ReadFile(path string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

// OSFiles reads the operating system's files.
type OSFiles struct{}

func (OSFiles) ReadFile(path string) ([]byte, error)  { return os.ReadFile(path) }
func (OSFiles) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// Limits of what Read takes in: keepalived's own include depth, and sizes that no real
// configuration reaches.
const (
	maxIncludeDepth = 8
	maxFiles        = 1000
	maxTokens       = 1 << 20
)

// token is one word of the configuration with where it comes from.
type token struct {
	text string
	file string
	line int
}

// lexer reads files into tokens, following include directives.
type lexer struct {
	files  Files
	toks   []token
	notes  []Note
	nfiles int
}

// readFile appends the tokens of path. depth is the include depth.
func (l *lexer) readFile(path string, depth int) error {
	if l.nfiles++; l.nfiles > maxFiles {
		return fmt.Errorf("more than %d files included", maxFiles)
	}
	data, err := l.files.ReadFile(path)
	if err != nil {
		return err
	}
	for i, raw := range strings.Split(string(data), "\n") {
		words := splitLine(raw)
		if len(words) == 0 {
			continue
		}
		line := i + 1
		switch {
		case words[0] == "include":
			if err := l.include(path, line, words[1:], depth); err != nil {
				return err
			}
			continue
		case strings.HasPrefix(words[0], "@"):
			l.notes = append(l.notes, Note{path, line, fmt.Sprintf("conditional line (%s) left out: keepalived's configuration ids have no meaning for xdpvs", words[0])})
			continue
		case strings.HasPrefix(words[0], "$"):
			l.notes = append(l.notes, Note{path, line, fmt.Sprintf("parameter %s left out: keepalived's parameter substitution is not translated; expand it first", words[0])})
			continue
		}
		for _, w := range words {
			l.toks = append(l.toks, token{w, path, line})
		}
		if len(l.toks) > maxTokens {
			return fmt.Errorf("%s: more than %d words", path, maxTokens)
		}
	}
	return nil
}

// include reads the files an include directive names (a glob; relative to the including file's
// directory), in name order as keepalived does.
func (l *lexer) include(from string, line int, args []string, depth int) error {
	if len(args) != 1 {
		return fmt.Errorf("%s:%d: include wants one file name or pattern", from, line)
	}
	if depth >= maxIncludeDepth {
		return fmt.Errorf("%s:%d: includes nested deeper than %d", from, line, maxIncludeDepth)
	}
	pattern := args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	names, err := l.files.Glob(pattern)
	if err != nil {
		return fmt.Errorf("%s:%d: include %s: %w", from, line, args[0], err)
	}
	if len(names) == 0 {
		l.notes = append(l.notes, Note{from, line, fmt.Sprintf("include %s: no file matches", args[0])})
	}
	sort.Strings(names)
	for _, n := range names {
		if err := l.readFile(n, depth+1); err != nil {
			return fmt.Errorf("%s:%d: include %s: %w", from, line, n, err)
		}
	}
	return nil
}

// splitLine splits a line into words as keepalived does: '!' and '#' start a comment, braces are
// words of their own, a double-quoted string is one word (without its quotes).
func splitLine(s string) []string {
	var words []string
	var cur strings.Builder
	in := false // inside a word
	flush := func() {
		if in {
			words = append(words, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				end = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+end])
			in = true
			i += end + 1
		case c == '!' || c == '#':
			flush()
			return words
		case c == '{' || c == '}':
			flush()
			words = append(words, string(c))
		case c == ' ' || c == '\t' || c == '\r':
			flush()
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	flush()
	return words
}
