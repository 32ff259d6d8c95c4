package control

// SyncRecordSize is the size of one connection-sync record (dataplane/syncrec.Size): mgmt moves
// records between directors as opaque bytes of this size.
const SyncRecordSize = 112

// Syncer is the dataplane's side of connection sync (docs/connection-sync.md), beside Control.
// Its counters are in the workers' Stats: events named sync_* (exported, export_full, imported,
// import_* by reason).
type Syncer interface {
	// SyncExport moves the records the workers have exported since the last call (connections
	// established, changed, refreshed, closed) into buf, whole records only, and returns how many
	// bytes it wrote. It never waits for a worker.
	SyncExport(buf []byte) int
	// SyncImport hands records received from an authenticated peer (whole records) to the
	// workers that own their connections, which apply them between two packet batches. It returns
	// how many it queued; the others (a worker's queue full) are counted and dropped.
	SyncImport(recs []byte) int
	// SyncBulk lists every connection worth syncing as records, worker after worker, in batches
	// (the caller's to keep), for a joining peer's bulk copy; as Control.Connections, it stops
	// when yield returns false and says when a worker did not answer.
	SyncBulk(yield func(recs []byte) bool) error
}
