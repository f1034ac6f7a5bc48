package bootstrap

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// cheap keeps the tests fast; Open reads the parameters from the record.
var cheap = KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func TestSealOpensWithTheSameSecretOnly(t *testing.T) {
	sealed, err := seal("right-secret", []byte("the CA key"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open("right-secret", sealed)
	if err != nil || string(got) != "the CA key" {
		t.Fatalf("Open with the right secret: %q, %v", got, err)
	}
	for _, secret := range []string{"wrong-secret", "right-secre", ""} {
		if _, err := Open(secret, sealed); !errors.Is(err, ErrWrongToken) {
			t.Errorf("Open with %q: %v, want ErrWrongToken", secret, err)
		}
	}
	if _, err := seal("", []byte("x"), cheap); err == nil {
		t.Error("sealing under an empty secret succeeded")
	}
}

func TestSealedRecordHidesThePlaintextAndIsFreshEachTime(t *testing.T) {
	a, _ := seal("s", []byte("-----BEGIN EC PRIVATE KEY-----"), cheap)
	b, _ := seal("s", []byte("-----BEGIN EC PRIVATE KEY-----"), cheap)
	if string(a) == string(b) {
		t.Error("two seals of the same data are identical: salt or nonce is not random")
	}
	for _, r := range [][]byte{a, b} {
		if !json.Valid(r) || strings.Contains(string(r), "PRIVATE") {
			t.Errorf("the record is not JSON or shows the plaintext: %s", r)
		}
	}
}

// alter decodes a record, lets change edit it and encodes it again.
func alter(t *testing.T, record []byte, change func(*envelope)) []byte {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(record, &e); err != nil {
		t.Fatal(err)
	}
	change(&e)
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenRefusesAlteredRecords(t *testing.T) {
	sealed, err := seal("secret", []byte(`{"files":{"tls/server-ca.key":"a2V5"}}`), cheap)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*envelope)
		want   error
	}{
		{"a ciphertext byte flipped", func(e *envelope) { e.Sealed[3] ^= 1 }, ErrTampered},
		{"the ciphertext cut short", func(e *envelope) { e.Sealed = e.Sealed[:len(e.Sealed)-1] }, ErrTampered},
		{"another nonce", func(e *envelope) { e.Nonce[0] ^= 1 }, ErrTampered},
		{"a nonce of the wrong size", func(e *envelope) { e.Nonce = e.Nonce[:4] }, ErrTampered},
		{"a memory cost of 2 TiB", func(e *envelope) { e.Header.Params.MemoryKiB = 1 << 31 }, ErrTampered},
		{"a thousand passes", func(e *envelope) { e.Header.Params.Time = 1000 }, ErrTampered},
		{"no salt", func(e *envelope) { e.Header.Salt = nil }, ErrTampered},
		// A changed salt or cost changes the derived key: it cannot be told from a wrong token.
		{"another salt", func(e *envelope) { e.Header.Salt[0] ^= 1 }, ErrWrongToken},
		{"another check value", func(e *envelope) { e.Check[0] ^= 1 }, ErrWrongToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open("secret", alter(t, sealed, tc.change)); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
	// A record from an unknown format is named as such, not as tampering.
	for name, record := range map[string][]byte{
		"not JSON":        []byte("plain text"),
		"version 2":       alter(t, sealed, func(e *envelope) { e.Header.Version = 2 }),
		"another KDF":     alter(t, sealed, func(e *envelope) { e.Header.KDF = "pbkdf2" }),
		"an empty object": []byte("{}"),
	} {
		if _, err := Open("secret", record); err == nil || errors.Is(err, ErrWrongToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDefaultKDFCost measures one derivation with the parameters servers use.
func TestDefaultKDFCost(t *testing.T) {
	start := time.Now()
	sealed, err := Seal("secret", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	sealing := time.Since(start)
	start = time.Now()
	if _, err := Open("secret", sealed); err != nil {
		t.Fatal(err)
	}
	t.Logf("Argon2id %+v: seal %s, open %s", DefaultKDF, sealing.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
