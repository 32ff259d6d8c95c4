package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpvs/xdpvs/internal/topo"
)

// dashboardExprs are the PromQL expressions of every panel of a Grafana dashboard, and of its
// template variables' queries.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs
}

// scrapeLabels are the metrics of a scrape with the labels of their series.
func scrapeLabels(scrape string) map[string][]string {
	out := map[string][]string{}
	series := regexp.MustCompile(`^(xdpvs_[a-z_]+)(?:\{([^}]*)\})? `)
	label := regexp.MustCompile(`([a-z_]+)="`)
	for _, line := range strings.Split(scrape, "\n") {
		m := series.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ls := out[m[1]]
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(ls, l[1]) {
				ls = append(ls, l[1])
			}
		}
		out[m[1]] = append(ls, "instance") // what Prometheus adds to every series
	}
	return out
}

// TestDashboard: every metric docs/grafana-dashboard.json queries is in a scrape of a running
// daemon (with a configuration file, a NAT service, a health check and its sorry server, a SYN-proxied service, a BGP
// peer and some traffic), and every label it selects or groups by is one of that metric's.
func TestDashboard(t *testing.T) {
	t.Parallel()
	const metricsAddr = "198.18.0.1:9101"
	e := newOpsEnv(t, "dash", 3, "--metrics", metricsAddr, "--config", filepath.Join(t.TempDir(), "xdpvs.conf"), "--bgp-as", "65001", "--bgp-router-id", "198.18.0.1",
		"--bgp-peer", "198.18.0.254,65000")
	e.serveHTTP(0)
	e.serveHTTP(1)
	e.serveHTTP(2)
	vip := topo.VIP4 + ":80"
	for _, l := range []string{
		"-A -t " + vip + " -s rr",
		"-a -t " + vip + " -r " + topo.RS4(0) + ":8080 -m",
		"-a -t " + vip + " -r " + topo.RS4(1) + ":8080 -m",
		"--health -t " + vip + " --check http --interval 500ms --timeout 300ms --sorry " + topo.RS4(2) + ":8080 -m",
		"-A -t " + topo.VIP4 + ":81 -s rr -j",
		"-a -t " + topo.VIP4 + ":81 -r " + topo.RS4(0) + ":8080 -m",
	} {
		e.adm1(strings.Fields(l)...)
	}
	e.waitUntil("first checks", 10*time.Second, func() bool { up, _ := e.serverUp(topo.RS4(0)); return up })
	e.requestsTo(80, 10)
	e.requestsTo(81, 10)
	time.Sleep(2500 * time.Millisecond) // a sample of the rate estimator
	have := scrapeLabels(e.scrape(metricsAddr))

	name := regexp.MustCompile(`xdpvs_[a-z_]+`)
	selector := regexp.MustCompile(`(xdpvs_[a-z_]+)\{([^}]*)\}`)
	by := regexp.MustCompile(`by \(([^)]*)\) \(([^()]*\()?(xdpvs_[a-z_]+)`)
	selLabel := regexp.MustCompile(`([a-z_]+)=~?"`)
	metrics := 0
	for _, expr := range dashboardExprs(t, "../../docs/grafana-dashboard.json") {
		for _, m := range name.FindAllString(expr, -1) {
			metrics++
			if _, ok := have[m]; !ok {
				t.Errorf("the dashboard queries %s, which the daemon does not export (%s)", m, expr)
			}
		}
		check := func(metric, l string) {
			if ls, ok := have[metric]; ok && !slices.Contains(ls, l) {
				t.Errorf("the dashboard selects %s by %s, a label it does not have (%v): %s", metric, l, ls, expr)
			}
		}
		for _, s := range selector.FindAllStringSubmatch(expr, -1) {
			for _, l := range selLabel.FindAllStringSubmatch(s[2], -1) {
				check(s[1], l[1])
			}
		}
		for _, b := range by.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(b[1], ",") {
				check(b[3], strings.TrimSpace(l))
			}
		}
	}
	if metrics < 30 {
		t.Errorf("the dashboard queries %d metrics: its expressions were not read", metrics)
	}
	t.Logf("%d metric references checked against %d metrics exported", metrics, len(have))
}
