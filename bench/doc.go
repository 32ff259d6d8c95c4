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
// Where the kernel refuses BPF_PROG_RUN's live-frames mode (pktgen.LiveFrames), every row is
// measured with the AF_XDP engine and the report says so.
//
// Reading the ratios. On a veth the director's receive runs on the sending CPU, so a generator
// is slowed by what the configuration under test does there, and each configuration is offered
// a different unpaced rate: the prog-run engine offered xdpvs NAT 6.2 Mpps and nftables 2.4 in
// November, and the ratio of what they delivered (1.49) compared two overloads. A throughput
// ratio whose rows were offered rates more than 1.5× apart is marked "overload, not capacity";
// one whose row delivered everything its generator sent is given as a bound (≥, ≤), or not at
// all when both did: it would measure the generator. Quote ratios without those marks (NAT /
// nftables: 1.08–1.15 with the AF_XDP engine, 1.09 with an independent generator). TestEngineSweep
// offers paced rates with each engine and logs delivered against offered, each CPU's share and
// the drop counters that moved:
//
//	XDPVS_BENCH=1 go test -run '^TestEngineSweep$' -v -count=1 ./bench/
//
// A configuration is marked busy when a CPU was busy before it, or still busy
// XDPVS_BENCH_DRAIN_MS (3 s) after its last trial, with the busiest threads named: the kernel
// finishing the configuration's own traffic is not another process.
//
// TestLoop (also in `make bench`) measures without a generator: reflectors on the client's and
// the real servers' veths send every datagram back as the other end's answer, so that a few
// thousand datagrams circulate through the forwarder as fast as the loop runs (the bare
// XDP_REDIRECT forward both ways, xdpvs NAT and FULLNAT with the fast path and with the workers
// only, nftables DNAT), against the reflectors alone on a veth pair; the loop's own work is in
// every figure, which pulls the ratios toward 1 (loop_linux_test.go):
//
//	XDPVS_BENCH=1 go test -run '^TestLoop$' -v -count=1 ./bench/
//
// TestForward is the Foundation's bare-forward-against-NAT figure:
//
//	XDPVS_BENCH=1 go test -run TestForward -v -count=1 -timeout 30m ./bench/
//
// Nothing imports this package.
package bench
