package main

import (
	"fmt"
	"strings"

	"github.com/xdpvs/xdpvs/dataplane"
)

// workersBy says how the number of workers was chosen, for the start-up line.
func workersBy(flag string) string {
	if flag != "auto" {
		return "--workers " + flag
	}
	return fmt.Sprintf("auto: receive queues of the interfaces, at most %d CPUs (%s)", len(dataplane.WorkerCPUs()), cpuList(dataplane.WorkerCPUs()))
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}
