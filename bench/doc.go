// Package bench holds the end-to-end performance measurements of xdpvs: side-by-side runs on one
// network-namespace topology, driven by bench/pktgen and reported as ratios with the machine, the
// kernel and the CPU placement beside them. They are tests that skip unless XDPVS_BENCH=1 (and
// root), so `go test ./...` does not run them:
//
//	XDPVS_BENCH=1 go test -run TestForward -v -count=1 -timeout 30m ./bench/
//
// Nothing imports this package.
package bench
