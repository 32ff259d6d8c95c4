package api

import "time"

// The roles of active/standby (xdpvsadm ha role), as keepalived's VRRP states name them, and the
// role of a director that is not one of a pair (xdpvsd without --ha).
const (
	HAMaster     = "master"     // serves the VIPs keepalived has moved here
	HABackup     = "backup"     // forwards nothing (the dataplane's standby) until it is master
	HAFault      = "fault"      // keepalived's FAULT (a tracked script or interface failed): as backup
	HAStandalone = "standalone" // no --ha: the director serves, and ha role is refused
)

// HARoles are the roles xdpvsadm ha role takes.
var HARoles = []string{HAMaster, HABackup, HAFault}

// HAState is `xdpvsadm show ha`: the director's role in an active/standby pair (what keepalived's
// notify scripts last said), whether it forwards, and whether it is ready to take traffic
// (`xdpvsadm ha ready`, keepalived's track_script).
type HAState struct {
	Enabled     bool      `json:"enabled"` // xdpvsd --ha
	Role        string    `json:"role"`    // HAMaster, HABackup, HAFault, HAStandalone
	Since       time.Time `json:"since"`   // of the role (the daemon's start for the first)
	Reason      string    `json:"reason"`  // what set it: "xdpvsadm ha role master", or the start's
	Transitions uint64    `json:"transitions"`
	// Forwarding tells that the dataplane serves (master, standalone); otherwise it is on standby
	// and every packet it is handed is dropped (counted as standby).
	Forwarding bool   `json:"forwarding"`
	Ready      bool   `json:"ready"`
	NotReady   string `json:"not_ready,omitempty"` // why it is not ready
	// History lists the last changes of role, oldest first (at most HAHistory).
	History []HATransition `json:"history"`
}

// HAHistory bounds HAState.History.
const HAHistory = 16

// HATransition is one change of role.
type HATransition struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}
