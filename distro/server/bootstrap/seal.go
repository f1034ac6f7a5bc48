package bootstrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Sealing. The bootstrap data holds the cluster's CA keys: whoever reads it can issue
// certificates the whole cluster trusts. It goes into the datastore only encrypted, under a key
// that only holders of the server token can derive:
//
//   - Argon2id (RFC 9106) derives 64 bytes from the token's secret and a random 16-byte salt:
//     an AES-256-GCM key and a key for a check value. A key derivation function that is slow
//     and memory-hard, because a datastore dump (a database backup, an etcd snapshot) must not
//     allow cheap offline guessing of a secret a person chose with --token: PBKDF2 costs an
//     attacker with GPUs little, scrypt would do as well, Argon2id is RFC 9106's first choice.
//     The parameters are the RFC's second recommended option (3 passes over 64 MiB, 4 lanes),
//     the one for machines without gigabytes to spare; one derivation takes a fraction of a
//     second, once per server start. They are stored with the data, so they can grow later.
//   - The check value, an HMAC-SHA256 of a fixed label under the second key, tells a wrong
//     token (the derived key differs) from data altered after it was sealed (the key is right
//     but the ciphertext no longer authenticates). It lets an attacker test a guess no faster
//     than the ciphertext itself would: every guess costs a derivation.
//   - AES-256-GCM with a random nonce encrypts and authenticates the payload, with the header
//     (version, parameters, salt) as additional data, so altering any part is detected.

// KDFParams are the Argon2id parameters a record was sealed with.
type KDFParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
}

// DefaultKDF is RFC 9106's second recommended Argon2id option.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// Bounds on what Open accepts, so that a record someone wrote into the datastore cannot make a
// server spend minutes or gigabytes before it finds out the record is bad.
const (
	maxTime      = 16
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxThreads   = 64
)

// Errors of Open.
var (
	// ErrWrongToken means the token's secret does not derive the key the data was sealed with.
	ErrWrongToken = errors.New("the token does not decrypt the cluster's bootstrap data: its secret is not the cluster's server token secret")
	// ErrTampered means the key is right but the data does not authenticate: it was altered
	// after it was sealed.
	ErrTampered = errors.New("the cluster's bootstrap data in the datastore fails authentication: it was altered after it was written")
)

const (
	sealVersion = 1
	kdfName     = "argon2id"
	saltSize    = 16
	checkLabel  = "distro bootstrap key check v1"
)

// header is what the key derivation needs; it is also the ciphertext's additional data.
type header struct {
	Version int       `json:"version"`
	KDF     string    `json:"kdf"`
	Params  KDFParams `json:"params"`
	Salt    []byte    `json:"salt"`
}

// envelope is the record stored in the datastore.
type envelope struct {
	Header header `json:"header"`
	Check  []byte `json:"check"`
	Nonce  []byte `json:"nonce"`
	Sealed []byte `json:"sealed"`
}

// Seal encrypts plaintext under a key derived from secret with DefaultKDF.
func Seal(secret string, plaintext []byte) ([]byte, error) {
	return seal(secret, plaintext, DefaultKDF)
}

func seal(secret string, plaintext []byte, p KDFParams) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("sealing the bootstrap data: the token secret is empty")
	}
	h := header{Version: sealVersion, KDF: kdfName, Params: p, Salt: make([]byte, saltSize)}
	if _, err := rand.Read(h.Salt); err != nil {
		return nil, err
	}
	aead, check, err := keys(secret, h)
	if err != nil {
		return nil, err
	}
	aad, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	e := envelope{Header: h, Check: check, Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(e.Nonce); err != nil {
		return nil, err
	}
	e.Sealed = aead.Seal(nil, e.Nonce, plaintext, aad)
	return json.Marshal(e)
}

// Open decrypts what Seal made. A wrong secret gives ErrWrongToken, altered data ErrTampered;
// a record that is not one gives another error saying so.
func Open(secret string, sealed []byte) ([]byte, error) {
	var e envelope
	if err := json.Unmarshal(sealed, &e); err != nil {
		return nil, fmt.Errorf("the bootstrap record in the datastore is not one this server reads: %w", err)
	}
	h := e.Header
	switch {
	case h.Version != sealVersion:
		return nil, fmt.Errorf("the bootstrap record has format version %d; this server reads version %d", h.Version, sealVersion)
	case h.KDF != kdfName:
		return nil, fmt.Errorf("the bootstrap record uses key derivation %q; this server knows %q", h.KDF, kdfName)
	case h.Params.Time < 1 || h.Params.Time > maxTime,
		h.Params.Threads < 1 || h.Params.Threads > maxThreads,
		h.Params.MemoryKiB < 8*uint32(h.Params.Threads) || h.Params.MemoryKiB > maxMemoryKiB:
		return nil, fmt.Errorf("%w (its key derivation parameters %+v are out of bounds)", ErrTampered, h.Params)
	case len(h.Salt) < saltSize || len(e.Check) != sha256.Size:
		return nil, fmt.Errorf("%w (its salt or check value has the wrong size)", ErrTampered)
	}
	if secret == "" {
		return nil, ErrWrongToken
	}
	aead, check, err := keys(secret, h)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(check, e.Check) {
		return nil, ErrWrongToken
	}
	if len(e.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w (its nonce has the wrong size)", ErrTampered)
	}
	aad, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, e.Nonce, e.Sealed, aad)
	if err != nil {
		return nil, ErrTampered
	}
	return plaintext, nil
}

// keys derives the cipher and the check value from the secret and the header.
func keys(secret string, h header) (cipher.AEAD, []byte, error) {
	k := argon2.IDKey([]byte(secret), h.Salt, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, 64)
	block, err := aes.NewCipher(k[:32])
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	mac := hmac.New(sha256.New, k[32:])
	mac.Write([]byte(checkLabel))
	return aead, mac.Sum(nil), nil
}
