package server

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/mgmt/internal/mgmttest"
	"github.com/xdpvs/xdpvs/mgmt/model"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// walkKeys calls f with every key of a decoded JSON value, at any depth, and its path.
func walkKeys(v any, path string, f func(key, path string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			f(k, path)
			walkKeys(e, path+"."+k, f)
		}
	case []any:
		for _, e := range x {
			walkKeys(e, path+"[]", f)
		}
	}
}

// TestJSONKeys: every -o json output of the admin tool, on a configuration with every kind of
// entry (health checks, local addresses, FULLNAT connections, workers' counters), has only
// snake_case keys.
func TestJSONKeys(t *testing.T) {
	n := mgmttest.NewFakeNet()
	ts := newTestServer(t, Config{dial: n.Dial})
	ts.mustLines(t, mgmttest.GoldenConfig)
	ts.mustAdm(t, "--health", "-t", "198.18.0.10:80", "--check", "http", "--sorry", "198.18.3.2:80", "-m")
	st := goldenStats(1)
	st.Workers = []control.WorkerStats{{ID: 0, Queue: 0, CPU: 1, RXPackets: 10, TXPackets: 9, HandoffsOut: 1, HandoffsIn: 2, Conns: 3,
		Drops:   []control.NamedCount{{Name: "no_service", Count: 1}},
		Events:  []control.NamedCount{{Name: "synproxy_syn_answered", Count: 2}},
		Sockets: []control.NamedCount{{Name: "d0/rx_dropped", Count: 3}}}}
	ts.fake.setStats(st)
	ts.fake.conns = []control.ConnInfo{{Proto: 6, Client: ap("[2001:2::3:1]:40001"), Virtual: ap("[2001:2::10]:443"),
		Local: ap("198.18.2.1:1025"), Dest: ap("198.18.1.5:8443"), State: "SYN_RECV", Expires: 30 * time.Second}}
	waitFor(t, "a health check", func() bool { return n.DialCount("tcp", "198.18.1.3:8080") > 0 })

	lines := []string{"-Ln -o json", "-Ln --stats -o json", "-L -c -o json", "-L --timeout -o json", "-S -o json",
		"--get-laddr -o json", "-Ln -t 198.18.0.10:80 --output=json"}
	ts.mustAdm(t, "-A", "-t", "198.18.0.20:80", "-s", "mh", "-b", "mh-size=251")
	ts.mustAdm(t, "-a", "-t", "198.18.0.20:80", "-r", "198.18.1.3:80", "-g")
	for _, v := range model.ShowVerbs {
		if v == model.ShowPick {
			lines = append(lines, "show pick -t 198.18.0.20:80 198.18.5.1:1000 198.18.5.2 -o json")
			continue
		}
		lines = append(lines, "show "+v.String()+" -o json")
	}
	all := map[string]bool{}
	for _, l := range lines {
		var v any
		if err := json.Unmarshal([]byte(ts.mustAdm(t, strings.Fields(l)...)), &v); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		walkKeys(v, "", func(key, path string) {
			all[key] = true
			if !snakeCase.MatchString(key) {
				t.Errorf("%s: key %q at %q is not snake_case", l, key, path)
			}
		})
	}
	// The walk saw what it should: the health, the connections, the workers and their counters.
	for _, k := range []string{"effective_weight", "on_fail", "local", "rx_packets", "handoffs_out", "count", "local_addresses",
		"table_digest", "mh_size", "picks", "client", "server"} {
		if !all[k] {
			t.Errorf("no output had the key %q", k)
		}
	}
}
