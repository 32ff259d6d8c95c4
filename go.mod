module github.com/xdpvs/xdpvs

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/gopacket/gopacket v1.7.7
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

require go.uber.org/multierr v1.10.0 // indirect

tool github.com/cilium/ebpf/cmd/bpf2go
