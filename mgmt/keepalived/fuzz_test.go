package keepalived

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzImport: any configuration, with an included file, is translated or refused with an error;
// nothing panics, every line of the translation names where it comes from, and every note has a
// file and a line. Seeds: the real configurations of mgmt/cli/testdata/keepalived.
func FuzzImport(f *testing.F) {
	seeds, _ := filepath.Glob("../cli/testdata/keepalived/*.conf*")
	for _, s := range seeds {
		if strings.HasSuffix(s, ".golden") {
			continue
		}
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b), "virtual_server 198.18.0.10 80 {\n real_server 198.18.1.2 80 {\n TCP_CHECK {\n }\n }\n}\n")
		}
	}
	f.Add("include inc.conf\nvirtual_server group G {\n}\nvirtual_server_group G {\n 198.18.0.1-3 80\n}\n", "include k.conf\n")
	f.Fuzz(func(t *testing.T, main, inc string) {
		files := mapFiles{"k.conf": main + "\ninclude inc.conf\n", "inc.conf": inc}
		res, err := Import("k.conf", files)
		if err != nil {
			return
		}
		for _, l := range res.Lines {
			if l.File == "" || l.Line < 1 || l.Text == "" {
				t.Fatalf("a line without its origin: %+v", l)
			}
		}
		for _, n := range res.Notes {
			if n.File == "" || n.Line < 1 {
				t.Fatalf("a note without its place: %+v", n)
			}
		}
	})
}
