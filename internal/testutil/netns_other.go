//go:build !linux

package testutil

import "testing"

// NetNS is a named network namespace; namespaces exist only on Linux.
type NetNS struct{ Name string }

// VethPair describes a veth pair; veths exist only on Linux.
type VethPair struct {
	A, B           *NetNS
	AName, BName   string
	AIndex, BIndex int
	Queues         int
}

// NewNetNS skips the test: network namespaces need Linux.
func NewNetNS(tb testing.TB, name string) *NetNS {
	tb.Helper()
	tb.Skip("skipping: network namespaces need Linux")
	return nil
}

// NewVethPair skips the test: veth pairs need Linux.
func NewVethPair(tb testing.TB, a *NetNS, aName string, b *NetNS, bName string, queues int) *VethPair {
	tb.Helper()
	tb.Skip("skipping: veth pairs need Linux")
	return nil
}

func (ns *NetNS) Path() string { return "" }
func (ns *NetNS) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	tb.Skip("needs Linux")
	return ""
}
func (ns *NetNS) Exec(args ...string) (string, error)   { return "", errNotLinux }
func (ns *NetNS) Do(fn func() error) error              { return errNotLinux }
func (ns *NetNS) MustDo(tb testing.TB, fn func() error) { tb.Helper(); tb.Skip("needs Linux") }
func (ns *NetNS) Ifindex(tb testing.TB, name string) int {
	tb.Helper()
	tb.Skip("needs Linux")
	return 0
}

type notLinux struct{}

func (notLinux) Error() string { return "testutil: needs Linux" }

var errNotLinux error = notLinux{}
