package dataplane

import "github.com/xdpvs/xdpvs/dataplane/control"

// The contract with mgmt lives in package control, which imports only the standard library; these
// aliases let the dataplane speak of it in its own terms.
type (
	Control         = control.Control
	Syncer          = control.Syncer
	ForwardMethod   = control.ForwardMethod
	ServiceFlags    = control.ServiceFlags
	ServiceKey      = control.ServiceKey
	Snapshot        = control.Snapshot
	Timeouts        = control.Timeouts
	BackendPolicy   = control.BackendPolicy
	Service         = control.Service
	RealServer      = control.RealServer
	Counters        = control.Counters
	RealServerStats = control.RealServerStats
	ServiceStats    = control.ServiceStats
	NamedCount      = control.NamedCount
	WorkerStats     = control.WorkerStats
	Stats           = control.Stats
	ConnInfo        = control.ConnInfo
	ProxyProtocol   = control.ProxyProtocol
)

// Forwarding methods and service flags, as in package control.
const (
	ForwardMasq        = control.ForwardMasq
	ServicePersistent  = control.ServicePersistent
	ServiceHashed      = control.ServiceHashed
	ServiceOnePacket   = control.ServiceOnePacket
	ServiceSchedFlag1  = control.ServiceSchedFlag1
	ServiceSchedFlag2  = control.ServiceSchedFlag2
	ServiceSchedFlag3  = control.ServiceSchedFlag3
	ServiceSynProxy    = control.ServiceSynProxy
	ProxyProtocolOff   = control.ProxyProtocolOff
	ProxyProtocolV1    = control.ProxyProtocolV1
	ProxyProtocolV2    = control.ProxyProtocolV2
	ForwardRoute       = control.ForwardRoute
	ForwardTunnel      = control.ForwardTunnel
	ForwardFullNAT     = control.ForwardFullNAT
	KeepRemovedConns   = control.KeepRemovedConns
	NoConnReuse        = control.NoConnReuse
	PersistToQuiescent = control.PersistToQuiescent
	NoSloppy           = control.NoSloppy
	NoFastPath         = control.NoFastPath
)
