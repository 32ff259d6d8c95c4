package control

import "time"

// Liveness is what the dataplane tells of its own ability to forward, for the announcement
// policy (mgmt/announce): a VIP is announced only while the steering program is attached to
// every interface and every worker's loop is turning. A Dataplane implements it beside Control;
// it reads atomics and the kernel's link state only, so it answers at once even while a worker
// is stuck (Stats would wait for it).
type Liveness interface {
	Liveness() LivenessInfo
}

// LivenessInfo is one reading of the dataplane's liveness.
type LivenessInfo struct {
	// Detached lists the interfaces whose steering program is not attached (empty: all are).
	Detached []string
	// Workers are the heartbeats of the workers' loops: how long ago each last went round. An
	// idle worker goes round at least every 100 ms (its poll timeout); a busy one every batch.
	Workers []WorkerBeat
}

// WorkerBeat is one worker's heartbeat.
type WorkerBeat struct {
	ID  int
	Age time.Duration
}
