package connsync

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// The envelope (big-endian):
//
//	 0  magic    "XSYN"
//	 4  version  1
//	 5  type     MsgRecords, MsgBulkRequest, MsgBulkEnd, MsgDigests
//	 6  reserved 2 bytes, zero
//	 8  epoch    the sender's start, Unix ns (8)
//	16  nonce    4 random bytes of the sender's process, then the sequence number (8)
//	28  sealed   AES-256-GCM of the payload, with bytes 0..27 as additional data; 16-byte tag
const (
	headerSize = 28
	tagSize    = 16
	// Overhead is what an envelope adds to its payload.
	Overhead = headerSize + tagSize
	version  = 1
)

var magic = [4]byte{'X', 'S', 'Y', 'N'}

// MsgType says what a message carries.
type MsgType uint8

const (
	MsgRecords     MsgType = 1 // connection records
	MsgBulkRequest MsgType = 2 // a joining director asks for every connection (empty payload)
	MsgBulkEnd     MsgType = 3 // the bulk copy asked for is complete (empty payload)
	MsgDigests     MsgType = 4 // the sender's scheduler table digests (digest.go)
	maxMsgType             = MsgDigests
)

// aeadKey derives the AES-256 key of a secret; cookieSecret the SYN proxy's cluster secret.
func aeadKey(secret []byte) [32]byte {
	return sha256.Sum256(append([]byte("xdpvs sync aead v1\x00"), secret...))
}

// ClusterSecret is what every director with the same --sync-key derives alike, for the
// dataplane's shared secrets (the SYN proxy's cookies, the owner hash), never the AEAD key itself.
func ClusterSecret(secret []byte) [32]byte {
	return sha256.Sum256(append([]byte("xdpvs sync cluster v1\x00"), secret...))
}

func newAEAD(secret []byte) (cipher.AEAD, error) {
	k := aeadKey(secret)
	b, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealer seals messages of one sender: its epoch, nonce prefix and sequence.
type sealer struct {
	epoch  uint64
	prefix [4]byte
	seq    uint64
}

// seal appends the envelope of payload, of type t, under aead to dst.
func (s *sealer) seal(dst []byte, aead cipher.AEAD, t MsgType, payload []byte) []byte {
	s.seq++
	var h [headerSize]byte
	copy(h[:4], magic[:])
	h[4], h[5] = version, uint8(t)
	binary.BigEndian.PutUint64(h[8:], s.epoch)
	copy(h[16:20], s.prefix[:])
	binary.BigEndian.PutUint64(h[20:], s.seq)
	dst = append(dst, h[:]...)
	return aead.Seal(dst, h[16:28], payload, h[:])
}

// envelope is an opened message's header.
type envelope struct {
	t          MsgType
	epoch, seq uint64
}

var errMalformed = errors.New("malformed")
var errAuth = errors.New("bad_auth")

// open checks msg's header and authenticates it with the first of aeads that does, returning its
// header and payload (appended to dst). errMalformed: not an envelope of ours; errAuth: no key
// authenticates it.
func open(dst, msg []byte, aeads []cipher.AEAD) (envelope, []byte, error) {
	if len(msg) < Overhead || [4]byte(msg[:4]) != magic || msg[4] != version || msg[6]|msg[7] != 0 ||
		msg[5] == 0 || MsgType(msg[5]) > maxMsgType {
		return envelope{}, nil, errMalformed
	}
	h := msg[:headerSize]
	for _, a := range aeads {
		if a == nil {
			continue
		}
		out, err := a.Open(dst, h[16:28], msg[headerSize:], h)
		if err == nil {
			return envelope{t: MsgType(h[5]), epoch: binary.BigEndian.Uint64(h[8:]), seq: binary.BigEndian.Uint64(h[20:])}, out, nil
		}
	}
	return envelope{}, nil, errAuth
}
