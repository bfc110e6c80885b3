// notecheck verifies a signed note with Go's golang.org/x/mod/sumdb/note,
// trusting only the one verifier key given: the independent check that each
// signature line of a checkpoint signed during a key rotation (several lines,
// one per key) is what Go expects. Signatures by other keys must be ignored,
// as c2sp.org/signed-note requires.
//
// Usage: notecheck NOTE-FILE VERIFIER-KEY
// Prints "verified by NAME+KEYID (N signatures, M by other keys)" and exits 0,
// or prints the error and exits 1 (2 for bad usage).
package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: notecheck NOTE-FILE VERIFIER-KEY")
		os.Exit(2)
	}
	msg, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	v, err := note.NewVerifier(strings.TrimSpace(os.Args[2]))
	if err != nil {
		fmt.Println("verifier key:", err)
		os.Exit(2)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fmt.Println("not verified:", err)
		os.Exit(1)
	}
	if len(n.Sigs) != 1 {
		fmt.Printf("not verified: %d signatures by the one trusted key\n", len(n.Sigs))
		os.Exit(1)
	}
	fmt.Printf("verified by %s+%08x (%d signatures, %d by other keys)\n", n.Sigs[0].Name, n.Sigs[0].Hash, len(n.Sigs)+len(n.UnverifiedSigs), len(n.UnverifiedSigs))
}
