package main

import (
	"github.com/xdpvs/xdpvs/header"
	"time"

	"golang.org/x/sys/unix"
)

func monotonicNow() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

func fillTCPChecksum(seg, src, dst []byte) {
	s := header.TCP(seg)
	s.SetChecksum(0)
	s.FillChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint16(len(seg))))
}
