// Package rs is the real server's side of TOA: it reads what the xdpvs-rs agent's BPF program
// recorded (the client address and port carried by TCP option 254, per connection) from the map the
// agent pins under /sys/fs/bpf/xdpvs-rs, so that a server behind a FULLNAT xdpvs director can learn
// its true client:
//
//	ln, _ := net.Listen("tcp", ":80")
//	conn, _ := ln.Accept()
//	if client, ok := rs.ClientAddr(conn); ok { ... } // else conn.RemoteAddr() is the client
//
// ClientAddr is the toa.ClientAddr of the issue. It lives here, not in package toa, because reading a
// BPF map needs the bpf(2) system call (cilium/ebpf, x/sys/unix), and toa stays standard library plus
// header for the director's dataplane. This package and cmd/xdpvs-rs are, beside dataplane and
// dataplane/xsk, the only places that touch BPF; nothing in the director imports them.
//
// The lookup key is the connection as the real server sees it: (local address:port, remote
// address:port), the remote being the director's local address (LIP:lport). The agent writes the entry
// when the handshake's last ACK (or the first data segment) passes tc ingress, before the kernel's TCP
// processes it, so by the time Accept returns the entry is there. One agent per network namespace: the
// key holds no namespace, so namespaces sharing a pin directory and addresses would see each other.
package rs
