//go:build !linux

package dataplane

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/dataplane/control"
	"github.com/xdpvs/xdpvs/dataplane/xsk"
)

// Config is how a Dataplane is built (see the Linux build).
type Config struct {
	Interfaces        []string
	Workers           int
	CPUs              []int
	Conns             int
	XSK               xsk.Options
	Attach            xsk.AttachMode
	BareForward       bool
	CompleteChecksums bool
	FastPath          bool
	Logger            *zap.Logger
}

// Dataplane needs Linux (AF_XDP).
type Dataplane struct{}

// New fails: AF_XDP is Linux only.
func New(Config) (*Dataplane, error) {
	return nil, fmt.Errorf("dataplane: AF_XDP: %w", ErrNotSupported)
}

func (*Dataplane) Apply(*Snapshot) error                   { return ErrNotSupported }
func (*Dataplane) Stats() *Stats                           { return &Stats{} }
func (*Dataplane) Connections(func([]ConnInfo) bool) error { return nil }
func (*Dataplane) Close() error                            { return nil }
func (*Dataplane) Workers() int                            { return 0 }

// Liveness reports nothing attached.
func (*Dataplane) Liveness() control.LivenessInfo { return control.LivenessInfo{} }
