package connsync

import (
	"bytes"
	"crypto/cipher"
	"fmt"
	"os"
)

// MinSecret is the shortest secret --sync-key accepts.
const MinSecret = 16

// Keys are the secrets of --sync-key FILE: the first line is the current secret (messages are
// sealed with it), an optional second line the previous one (still accepted), so that a key is
// rotated by writing "new\nold" on every director, and later "new" alone. Blank lines and lines
// starting with # are ignored; surrounding spaces are not part of a secret.
type Keys struct {
	Current, Previous []byte
}

// ParseKeys reads the contents of a key file.
func ParseKeys(b []byte) (Keys, error) {
	var lines [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		lines = append(lines, l)
	}
	switch {
	case len(lines) == 0:
		return Keys{}, fmt.Errorf("no secret: want the current secret on the first line, the previous one on an optional second")
	case len(lines) > 2:
		return Keys{}, fmt.Errorf("%d secrets: want the current one and at most the previous one", len(lines))
	}
	k := Keys{Current: lines[0]}
	if len(lines) == 2 {
		k.Previous = lines[1]
	}
	for _, s := range lines {
		if len(s) < MinSecret {
			return Keys{}, fmt.Errorf("a secret of %d bytes: want at least %d (e.g. head -c 32 /dev/urandom | base64)", len(s), MinSecret)
		}
	}
	return k, nil
}

// LoadKeys reads --sync-key FILE.
func LoadKeys(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Keys{}, fmt.Errorf("sync key: %w", err)
	}
	k, err := ParseKeys(b)
	if err != nil {
		return Keys{}, fmt.Errorf("sync key %s: %w", path, err)
	}
	return k, nil
}

// aeads returns the ciphers of the current and the previous secret (nil when none).
func (k Keys) aeads() ([2]cipher.AEAD, error) {
	var out [2]cipher.AEAD
	for i, s := range [2][]byte{k.Current, k.Previous} {
		if s == nil {
			continue
		}
		a, err := newAEAD(s)
		if err != nil {
			return out, err
		}
		out[i] = a
	}
	return out, nil
}
