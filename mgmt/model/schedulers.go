package model

import (
	"slices"

	"github.com/xdpvs/xdpvs/sched"
)

// ipvsDefaultScheduler is ipvsadm's DEF_SCHED.
const ipvsDefaultScheduler = "wlc"

// DefaultScheduler is the scheduler of a service added without -s: ipvsadm's "wlc" once it is
// registered, until then the first of "wrr", "rr" that is, else the first registered name.
func DefaultScheduler() string {
	for _, n := range []string{ipvsDefaultScheduler, "wrr", "rr"} {
		if schedulerExists(n) {
			return n
		}
	}
	if names := sched.Names(); len(names) > 0 {
		return names[0]
	}
	return ipvsDefaultScheduler
}

func schedulerExists(name string) bool {
	_, ok := sched.Lookup(name)
	return ok
}

// SchedulerNames lists the registered schedulers, for the usage text.
func SchedulerNames() []string { return slices.Clone(sched.Names()) }
