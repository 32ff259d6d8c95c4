// Package bench holds the end-to-end performance measurements of xdpvs: side-by-side runs on one
// network-namespace topology, driven by bench/pktgen and reported as ratios with the machine, the
// kernel and the CPU placement beside them. They are tests that skip unless XDPVS_BENCH=1 (and
// root), so `go test ./...` does not run them.
//
// TestLB is `make bench`: xdpvs NAT, FULLNAT and DR with 1 and 2 workers, the bare AF_XDP
// forward, nftables DNAT (numgen) and HAProxy, in packets per second (throughput, RFC 2544 NDR and
// PDR per frame size, one-way latency at the NDR) and connections per second; it writes
// results/bench.md, results/bench.json and results/bench.png:
//
//	XDPVS_BENCH=1 go test -run '^TestLB$' -v -count=1 -timeout 40m ./bench/
//
// The generator is bench/pktgen's BPF_PROG_RUN engine; XDPVS_BENCH_ENGINE=af-xdp runs the same
// measurement with its AF_XDP engine instead (slower, 1–2 Mpps per core in copy mode, but another
// transmit path: a check of the first engine's figures), and XDPVS_BENCH_DIAG=1 logs, after
// every trial that lost frames, which drop counter moved (see lb_linux_test.go for every knob).
// The two engines alone, side by side: XDPVS_BENCH=1 go test -run TestEngineRates -v ./bench/pktgen/.
//
// TestForward is the Foundation's bare-forward-against-NAT figure:
//
//	XDPVS_BENCH=1 go test -run TestForward -v -count=1 -timeout 30m ./bench/
//
// Nothing imports this package.
package bench
