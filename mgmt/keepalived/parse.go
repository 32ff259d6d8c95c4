package keepalived

import "fmt"

// node is one statement of the configuration: a keyword, its arguments and, for a block, the
// statements inside its braces.
type node struct {
	key   string
	args  []string
	file  string
	line  int
	block bool
	kids  []*node
}

func (n *node) at() (string, int) { return n.file, n.line }

// arg is argument i, or "".
func (n *node) arg(i int) string {
	if i < len(n.args) {
		return n.args[i]
	}
	return ""
}

// parse builds the statements of toks: a statement is the words of one line; a '{' (on its line
// or the next) opens the block of the statement before it, '}' closes it.
func parse(toks []token) ([]*node, error) {
	i := 0
	nodes, err := parseBlock(toks, &i, 0)
	if err != nil {
		return nil, err
	}
	if i < len(toks) {
		t := toks[i]
		return nil, fmt.Errorf("%s:%d: '}' without its '{'", t.file, t.line)
	}
	return nodes, nil
}

const maxNesting = 32

func parseBlock(toks []token, i *int, depth int) ([]*node, error) {
	if depth > maxNesting {
		t := toks[*i-1]
		return nil, fmt.Errorf("%s:%d: blocks nested deeper than %d", t.file, t.line, maxNesting)
	}
	var nodes []*node
	var cur *node
	for *i < len(toks) {
		t := toks[*i]
		switch {
		case t.text == "}":
			if depth == 0 {
				return nodes, nil
			}
			*i++
			return nodes, nil
		case t.text == "{":
			*i++
			if cur == nil || cur.block {
				return nil, fmt.Errorf("%s:%d: '{' without a keyword before it", t.file, t.line)
			}
			kids, err := parseBlock(toks, i, depth+1)
			if err != nil {
				return nil, err
			}
			cur.block, cur.kids = true, kids
		case cur == nil || cur.block || t.line != cur.line || t.file != cur.file:
			cur = &node{key: t.text, file: t.file, line: t.line}
			nodes = append(nodes, cur)
			*i++
		default:
			cur.args = append(cur.args, t.text)
			*i++
		}
	}
	if depth > 0 {
		t := toks[len(toks)-1]
		return nil, fmt.Errorf("%s:%d: a block is not closed ('}' missing) at the end of the configuration", t.file, t.line)
	}
	return nodes, nil
}
