package dataplane

import (
	"time"

	"github.com/xdpvs/xdpvs/dataplane/control"
)

var _ control.Liveness = (*Dataplane)(nil)

// Liveness implements control.Liveness: the interfaces whose steering program's link is gone,
// and each worker's heartbeat (the time of its loop's last round). It never waits for a worker.
func (d *Dataplane) Liveness() control.LivenessInfo {
	var li control.LivenessInfo
	now := monotonic()
	for _, w := range d.workers {
		li.Workers = append(li.Workers, control.WorkerBeat{ID: w.id, Age: time.Duration(max(now-w.beat.Load(), 0))})
	}
	d.mu.Lock() // the steering's interfaces are Apply's too
	defer d.mu.Unlock()
	if d.stop.Load() {
		for _, p := range d.ports {
			li.Detached = append(li.Detached, p.Name)
		}
		return li
	}
	for _, p := range d.ports {
		if !d.steer.Linked(p.Ifindex) {
			li.Detached = append(li.Detached, p.Name)
		}
	}
	return li
}
