package pktgen

import "fmt"

// Engine is how a generator puts its frames on the wire.
type Engine string

const (
	// EngineProgRun runs the generator's XDP program with BPF_PROG_RUN in live-frames mode: every
	// frame leaves as an XDP_TX frame of the interface (ndo_xdp_xmit), written by the program.
	EngineProgRun Engine = "prog-run"
	// EngineAFXDP writes the frames into the UMEM of an AF_XDP socket bound to one queue of the
	// interface and sends them from its TX ring (copy mode on a veth: the kernel builds one skb
	// per frame and transmits it on that queue).
	EngineAFXDP Engine = "af-xdp"
)

// Engines lists the engines, the default first.
var Engines = []Engine{EngineProgRun, EngineAFXDP}

// ParseEngine returns the engine named s ("" is the default, EngineProgRun).
func ParseEngine(s string) (Engine, error) {
	if s == "" {
		return EngineProgRun, nil
	}
	for _, e := range Engines {
		if string(e) == s {
			return e, nil
		}
	}
	return "", fmt.Errorf("pktgen: unknown engine %q (want %s or %s)", s, EngineProgRun, EngineAFXDP)
}
