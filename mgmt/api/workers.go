package api

import "github.com/xdpvs/xdpvs/dataplane/control"

// WorkerStats are one worker's counters as listed (show workers|queues|drops|events|synproxy):
// control.WorkerStats with the API's JSON keys.
type WorkerStats struct {
	ID          int          `json:"id"`
	Queue       int          `json:"queue"`
	CPU         int          `json:"cpu"`
	RXPackets   uint64       `json:"rx_packets"`
	TXPackets   uint64       `json:"tx_packets"`
	HandoffsOut uint64       `json:"handoffs_out"` // packets handed to the worker owning their connection
	HandoffsIn  uint64       `json:"handoffs_in"`
	Conns       uint64       `json:"conns"`   // entries in the worker's connection table
	Drops       []NamedCount `json:"drops"`   // by reason
	Events      []NamedCount `json:"events"`  // what is neither a drop nor a packet
	Sockets     []NamedCount `json:"sockets"` // XDP_STATISTICS per interface, "IF/rx_dropped" and so on
}

// NamedCount is one named counter.
type NamedCount struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Workers lists the dataplane's worker counters.
func Workers(ws []control.WorkerStats) []WorkerStats {
	if ws == nil {
		return nil
	}
	out := make([]WorkerStats, len(ws))
	for i, w := range ws {
		out[i] = WorkerStats{ID: w.ID, Queue: w.Queue, CPU: w.CPU, RXPackets: w.RXPackets, TXPackets: w.TXPackets,
			HandoffsOut: w.HandoffsOut, HandoffsIn: w.HandoffsIn, Conns: w.Conns,
			Drops: namedCounts(w.Drops), Events: namedCounts(w.Events), Sockets: namedCounts(w.Sockets)}
	}
	return out
}

func namedCounts(cs []control.NamedCount) []NamedCount {
	if cs == nil {
		return nil
	}
	out := make([]NamedCount, len(cs))
	for i, c := range cs {
		out[i] = NamedCount{Name: c.Name, Count: c.Count}
	}
	return out
}
