// Package connsync is the connection-sync channel between directors (docs/connection-sync.md):
// every director sends the connections its workers export (dataplane/syncrec records, opaque
// here) to each --sync-peer over UDP, and hands those it receives to its own dataplane
// (control.Syncer).
//
// Every message is sealed with AES-256-GCM (the standard library's) under a key derived from the
// secret in --sync-key FILE; the receiver accepts the file's current and previous secret, so that
// a key is rotated without a flag day. The clear header is the AEAD's additional data: it carries
// the sender's epoch (its start, Unix ns) and a sequence number, and each peer has a replay window
// of the last 64 sequence numbers of its newest epoch. A message that is not from a configured
// peer, does not authenticate, replays, or is malformed is dropped and counted by reason
// (Drop*); nothing of it reaches the dataplane.
//
// The sender batches records to the path MTU and sends at most a bounded number of messages a
// second; records beyond it are counted (rate_limited) and dropped: the dataplane exports a
// connection again at its next state change or refresh.
package connsync
