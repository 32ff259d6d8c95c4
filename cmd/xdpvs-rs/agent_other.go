//go:build !linux

package main

import (
	"errors"
	"io"
)

var errNotLinux = errors.New("xdpvs-rs needs Linux (tc BPF programs)")

func serve(cfg config, stdout, stderr io.Writer) error { return errNotLinux }
func toaList(dir string, stdout io.Writer) error       { return errNotLinux }
func printStats(dir string, stdout io.Writer) error    { return errNotLinux }
