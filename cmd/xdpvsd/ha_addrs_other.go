//go:build !linux

package main

import (
	"go.uber.org/zap"

	"github.com/xdpvs/xdpvs/mgmt/server"
)

// followAddrs follows nothing off Linux: the role is keepalived's notify scripts' alone.
func followAddrs(*server.Server, *zap.Logger, <-chan struct{}) error { return nil }
