//go:build !linux

// Command xdpvs-pktgen needs Linux (BPF_PROG_RUN live frames).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "xdpvs-pktgen: needs Linux")
	os.Exit(2)
}
