package testutil

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// PrivateBPFFS mounts a BPF filesystem of the test's own on a temporary directory (the host's
// /sys/fs/bpf is neither needed nor touched) and returns it; cleanup unmounts and removes it, after
// the cleanups registered later (the programs and agents pinning there) have run.
func PrivateBPFFS(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	dir, err := os.MkdirTemp("", "xdpvs-bpffs")
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		os.Remove(dir)
		tb.Fatalf("mount bpffs: %v", err)
	}
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
			return
		}
		os.Remove(dir)
	})
	return dir
}
