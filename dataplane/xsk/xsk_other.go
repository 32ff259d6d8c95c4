//go:build !linux

package xsk

import "fmt"

var errOther = fmt.Errorf("xsk: AF_XDP needs Linux: %w", ErrNotSupported)

// UMEM is unavailable outside Linux.
type UMEM struct{}

// Socket is unavailable outside Linux.
type Socket struct{}

// Steering is unavailable outside Linux.
type Steering struct{}

// ProgramName is the name of the steering program in the kernel.
const ProgramName = "xdpvs_steer"

// ErrInterfaceBusy is returned by Attach when the interface already has an
// XDP program that Attach must not replace.
var ErrInterfaceBusy = fmt.Errorf("interface has another XDP program")

func NewUMEM(o Options) (*UMEM, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return nil, errOther
}
func (u *UMEM) Options() Options                         { return Options{} }
func (u *UMEM) Frame(addr uint64) []byte                 { return nil }
func (u *UMEM) MaxPacket() int                           { return 0 }
func (u *UMEM) Alloc() (uint64, bool)                    { return 0, false }
func (u *UMEM) Free(addr uint64)                         {}
func (u *UMEM) FreeCount() int                           { return 0 }
func (u *UMEM) Sockets() []*Socket                       { return nil }
func (u *UMEM) Bind(ifindex, queue int) (*Socket, error) { return nil, errOther }
func (u *UMEM) Close() error                             { return nil }

func (s *Socket) FD() int                         { return -1 }
func (s *Socket) Ifindex() int                    { return 0 }
func (s *Socket) Queue() int                      { return 0 }
func (s *Socket) ZeroCopy() bool                  { return false }
func (s *Socket) TXBudget() int                   { return 0 }
func (s *Socket) Receive(descs []Desc) int        { return 0 }
func (s *Socket) Transmit(descs []Desc) int       { return 0 }
func (s *Socket) Complete() int                   { return 0 }
func (s *Socket) Refill() int                     { return 0 }
func (s *Socket) Wakeup()                         {}
func (s *Socket) Statistics() (Statistics, error) { return Statistics{}, errOther }

func NewSteering() (*Steering, error)                                        { return nil, errOther }
func (st *Steering) Attach(ifindex int, mode AttachMode) (AttachMode, error) { return 0, errOther }
func (st *Steering) Register(s *Socket) error                                { return errOther }
func (st *Steering) Unregister(ifindex, queue int) error                     { return errOther }
func (st *Steering) Update(r Rules) error                                    { return errOther }
func (st *Steering) Stats() (map[string]uint64, error)                       { return nil, errOther }
func (st *Steering) Attached() map[int]AttachMode                            { return nil }
func (st *Steering) Detach(ifindex int) error                                { return nil }
func (st *Steering) Linked(ifindex int) bool                                 { return false }
func (st *Steering) Close() error                                            { return nil }
