// Command tlogcheck is Greffe's independent interop checker.
//
// It audits a running Greffe server from the outside, using only the Go
// standard library and golang.org/x/mod/sumdb/{tlog,note} (Russ Cox's
// reference code for tiled logs), so that a bug shared by Greffe's Swift
// core and Greffe's own tests cannot hide:
//
//  1. GET /checkpoint, verify the C2SP signed note with the verifier key,
//     parse the C2SP tlog-checkpoint body (origin, size, root, extensions).
//  2. Recompute the root from the C2SP tlog-tiles hash tiles and compare.
//  3. Fetch every entry bundle; each entry's RFC 9162 leaf hash must equal
//     the level-0 tile hash; decode the Greffe v1 entry layout; check the
//     index field and the prev hash chain.
//  4. For every acknowledgement the driver recorded, verify an inclusion
//     proof from /v1/proofs/inclusion (by index, and for a sample by
//     leaf_hash) at the checkpoint size with tlog.CheckRecord.
//  5. For every old checkpoint the driver saved, verify its signature and a
//     consistency proof to the current checkpoint with tlog.CheckTree; also
//     consistency and inclusion proofs between random sizes, against roots
//     recomputed from the tiles.
//  6. Negative self-checks: tampered signatures, proofs and tiles must be
//     rejected, so a passing run means something.
//
// Tiles are authenticated by this program (verifyTileTree), not only by
// tlog.TileHashReader: x/mod v0.7.0's reader leaves some child tiles
// unchecked (see checkTreeFromTiles).
//
// Build (GOPATH mode, Debian's golang-golang-x-mod-dev, no network):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogcheck ./Tests/Interop/tlogcheck
//
// Run against a server:
//
//	tlogcheck -url http://127.0.0.1:PORT -vkey DIR/verifier.vkey -acks acks.jsonl [-old-checkpoints cps.txt]
//
// Self-test against the Go-produced vectors (no server needed):
//
//	tlogcheck -selftest-vectors /work/shared/testvectors/rfc9162-seed1.json
//
// Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// C2SP tlog-tiles fixes the tile height at 8 (256 hashes per full tile).
const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
)

// emptyRoot is the RFC 9162 §2.1.1 hash of the empty tree, SHA-256 of the
// empty string. Note that Go's tlog.TreeHash(0, …) returns the all-zero
// hash instead, so size 0 is handled here and never passed to tlog.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlogcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		baseURL     = fs.String("url", "", "base URL of the log (the C2SP tlog-tiles prefix), e.g. http://127.0.0.1:8080")
		vkeyArg     = fs.String("vkey", "", "file holding the note verifier key name+hexkeyid+base64key (or the key itself)")
		acksFile    = fs.String("acks", "", "JSON lines {\"index\",\"leaf_hash\",\"event_id\"} recorded from the server's answers")
		oldCPFile   = fs.String("old-checkpoints", "", "file of earlier checkpoint notes separated by lines holding only ---")
		origin      = fs.String("origin", "", "expected checkpoint origin (optional)")
		entryFormat = fs.String("entry-format", "greffe-v1", "entry layout to decode: greffe-v1 or none")
		seed        = fs.Int64("seed", 0, "seed for the random samples (0: time-based; printed for reproduction)")
		parallel    = fs.Int("parallel", 8, "concurrent HTTP requests")
		hashSample  = fs.Int("hash-sample", 64, "how many acks to also look up by leaf_hash")
		ackProofs   = fs.Int("ack-proofs", 0, "fetch and check inclusion proofs for this many acks (0 = all); every ack is still checked against the authenticated level-0 tiles")
		randProofs  = fs.Int("random-proofs", 8, "how many random-size consistency (and inclusion) proofs to check")
		timeout     = fs.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
		selftest    = fs.String("selftest-vectors", "", "run the self-test against this rfc9162 vector file instead of a server")
		genkey      = fs.String("genkey", "", "print a fresh throwaway verifier key with this name and exit (for negative tests)")
		tilesOnly   = fs.Bool("tiles-only", false, "the URL serves only the static tlog-tiles files (greffe serve --tiles-dir behind nginx): inclusion and consistency proofs are built from the tiles with tlog.ProveRecord/ProveTree instead of fetched, and only the tile 404 probes run")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "tlogcheck: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *genkey != "" {
		_, vkey, err := note.GenerateKey(rand.Reader, *genkey)
		if err != nil {
			fmt.Fprintf(stderr, "tlogcheck: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, vkey)
		return 0
	}
	if *selftest != "" {
		if err := runSelfTest(*selftest, stdout); err != nil {
			fmt.Fprintf(stdout, "selftest: FAIL: %v\n", err)
			return 1
		}
		return 0
	}
	if *baseURL == "" || *vkeyArg == "" {
		fmt.Fprintln(stderr, "usage: tlogcheck -url URL -vkey VKEY [-acks FILE] [-old-checkpoints FILE]")
		fmt.Fprintln(stderr, "       tlogcheck -selftest-vectors FILE")
		fs.PrintDefaults()
		return 2
	}
	if *entryFormat != "greffe-v1" && *entryFormat != "none" {
		fmt.Fprintf(stderr, "tlogcheck: -entry-format must be greffe-v1 or none\n")
		return 2
	}

	fail := func(err error) int {
		fmt.Fprintf(stdout, "interop: FAIL: %v\n", err)
		return 1
	}
	vkey, err := readVerifierKey(*vkeyArg)
	if err != nil {
		return fail(err)
	}
	cfg := config{
		URL:          *baseURL,
		VerifierKey:  vkey,
		Origin:       *origin,
		EntryFormat:  *entryFormat,
		Seed:         *seed,
		Parallel:     *parallel,
		HashSample:   *hashSample,
		AckProofs:    *ackProofs,
		RandomProofs: *randProofs,
		TilesOnly:    *tilesOnly,
		Client:       &http.Client{Timeout: *timeout},
		Log:          stdout,
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if *acksFile != "" {
		data, err := os.ReadFile(*acksFile)
		if err != nil {
			return fail(err)
		}
		if cfg.Acks, err = parseAcks(data); err != nil {
			return fail(fmt.Errorf("%s: %w", *acksFile, err))
		}
	}
	if *oldCPFile != "" {
		data, err := os.ReadFile(*oldCPFile)
		if err != nil {
			return fail(err)
		}
		cfg.OldCheckpoints = splitNotes(data)
	}
	rep, err := run(cfg)
	if err != nil {
		return fail(err)
	}
	rep.print(stdout)
	fmt.Fprintln(stdout, "interop: OK")
	return 0
}

// readVerifierKey accepts a file holding the key (as `greffe init` writes
// DIR/verifier.vkey) or, when no such file exists, the key string itself.
func readVerifierKey(arg string) (string, error) {
	data, err := os.ReadFile(arg)
	if err != nil {
		if os.IsNotExist(err) && strings.Count(arg, "+") >= 2 {
			return arg, nil
		}
		return "", fmt.Errorf("verifier key: %w", err)
	}
	key := strings.TrimSpace(string(data))
	if strings.ContainsAny(key, "\n\r") {
		return "", fmt.Errorf("verifier key file %s holds more than one line", arg)
	}
	return key, nil
}

// ---------------------------------------------------------------------------
// Configuration and report

type config struct {
	URL            string
	VerifierKey    string
	Origin         string // expected origin; empty: not checked
	Acks           []ack
	OldCheckpoints [][]byte
	EntryFormat    string // "greffe-v1" or "none"
	Seed           int64
	Parallel       int
	HashSample     int
	AckProofs      int
	RandomProofs   int
	TilesOnly      bool // no /v1 API: proofs come from the tiles (tlog.ProveRecord, ProveTree)
	Client         *http.Client
	Log            io.Writer
}

// An ack is one acknowledgement the driver recorded from POST /v1/events.
type ack struct {
	Index    int64
	LeafHash tlog.Hash
	EventID  string
	Line     int // in the acks file; 0 when not from a file
}

func (a ack) String() string {
	if a.Line > 0 {
		return fmt.Sprintf("event %q (acks line %d)", a.EventID, a.Line)
	}
	return fmt.Sprintf("event %q", a.EventID)
}

type report struct {
	Seed              int64
	Origin            string
	Size              int64
	Root              tlog.Hash
	Extensions        int
	TilesFetched      int
	TileBytes         int64
	PartialFallbacks  int
	EntryBundles      int
	Entries           int64
	Kinds             map[string]int64
	Acks              int
	AckEventIDs       int
	InclusionByIndex  int
	InclusionByHash   int
	OldCheckpoints    int
	OldConsistency    int
	OldTrivial        int
	RandomConsistency int
	RandomInclusion   int
	APIProbes         int
	NegativeProbes    int
	Warnings          []string
}

func (r *report) warnf(format string, args ...interface{}) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "checkpoint: origin %q size %d root %s (%d extension lines), signature OK\n", r.Origin, r.Size, r.Root, r.Extensions)
	fmt.Fprintf(w, "tiles: %d tiles and bundles fetched (%d bytes, %d partial->full fallbacks); every tile authenticated, root recomputed from tiles matches\n", r.TilesFetched, r.TileBytes, r.PartialFallbacks)
	fmt.Fprintf(w, "entries: %d in %d bundles; leaf hashes match level-0 tiles", r.Entries, r.EntryBundles)
	if r.Kinds != nil {
		fmt.Fprintf(w, "; greffe-v1 layout, index fields and prev chain OK")
	}
	fmt.Fprintln(w)
	if len(r.Kinds) > 0 {
		kinds := make([]string, 0, len(r.Kinds))
		for k := range r.Kinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  kind %-32s %d\n", k, r.Kinds[k])
		}
	}
	fmt.Fprintf(w, "acks: %d lines (%d distinct event_ids); inclusion proofs verified: %d by index, %d by leaf_hash\n", r.Acks, r.AckEventIDs, r.InclusionByIndex, r.InclusionByHash)
	fmt.Fprintf(w, "old checkpoints: %d verified (%d consistency proofs; %d trivial: empty tree or same size, roots compared)\n", r.OldCheckpoints, r.OldConsistency, r.OldTrivial)
	fmt.Fprintf(w, "random sizes: %d consistency proofs, %d inclusion proofs verified against roots from tiles (seed %d)\n", r.RandomConsistency, r.RandomInclusion, r.Seed)
	fmt.Fprintf(w, "API probes: %d answered as the contract says\n", r.APIProbes)
	fmt.Fprintf(w, "negative self-checks: %d tampered inputs rejected\n", r.NegativeProbes)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// ---------------------------------------------------------------------------
// The check

type checker struct {
	cfg      config
	base     *url.URL
	verifier note.Verifier
	rng      *mathrand.Rand
	rep      *report
	cp       checkpoint
	tiles    *httpTileReader
	thr      tlog.HashReader // authenticated against cp (tlog.TileHashReader)
}

// run performs every check against cfg.URL and returns the report, or the
// first failure.
func run(cfg config) (*report, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Parallel < 1 {
		cfg.Parallel = 1
	}
	if cfg.EntryFormat == "" {
		cfg.EntryFormat = "greffe-v1"
	}
	base, err := url.Parse(strings.TrimRight(cfg.URL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("bad -url: %w", err)
	}
	v, err := note.NewVerifier(cfg.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", cfg.VerifierKey, err)
	}
	c := &checker{
		cfg:      cfg,
		base:     base,
		verifier: v,
		rng:      mathrand.New(mathrand.NewSource(cfg.Seed)),
		rep:      &report{Seed: cfg.Seed},
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"checkpoint", c.checkCheckpoint},
		{"tiles", c.checkTreeFromTiles},
		{"entries", c.checkEntries},
		{"acks", c.checkAcks},
		{"old checkpoints", c.checkOldCheckpoints},
		{"random proofs", c.checkRandomProofs},
		{"API probes", c.checkAPIProbes},
		{"negative self-checks", c.checkNegatives},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(); err != nil {
			return c.rep, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(cfg.Log, "step %-20s ok (%v)\n", s.name, time.Since(start).Round(time.Millisecond))
	}
	if c.tiles != nil {
		c.rep.TilesFetched, c.rep.TileBytes, c.rep.PartialFallbacks = c.tiles.stats()
	}
	return c.rep, nil
}

// Step 1: the checkpoint.
func (c *checker) checkCheckpoint() error {
	body, hdr, status, err := c.get("checkpoint")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /checkpoint: status %d: %s", status, snippet(body))
	}
	c.checkContentType("/checkpoint", hdr, "text/plain")
	if ct := hdr.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil && !strings.EqualFold(params["charset"], "utf-8") {
			c.rep.warnf("GET /checkpoint: Content-Type %q; C2SP tlog-tiles says text/plain; charset=utf-8", ct)
		}
	}
	cp, err := openCheckpoint(body, c.verifier)
	if err != nil {
		return fmt.Errorf("GET /checkpoint: %w\n--- checkpoint as served ---\n%s", err, body)
	}
	if c.cfg.Origin != "" && cp.Origin != c.cfg.Origin {
		return fmt.Errorf("checkpoint origin %q, want %q", cp.Origin, c.cfg.Origin)
	}
	if cp.SignerName != cp.Origin {
		c.rep.warnf("checkpoint signed by key name %q but origin is %q (C2SP tlog-checkpoint: SHOULD match)", cp.SignerName, cp.Origin)
	}
	c.cp = cp
	c.rep.Origin, c.rep.Size, c.rep.Root, c.rep.Extensions = cp.Origin, cp.Size, cp.Root, len(cp.Extensions)
	c.tiles = newHTTPTileReader(c)
	if cp.Size > 0 {
		c.thr = tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, c.tiles)
	}
	return nil
}

// Step 2: the root from the tiles. First this program's own full
// authentication of every tile (verifyTileTree), then tlog.TreeHash through
// tlog.TileHashReader as a second opinion; later steps read hashes through
// that reader, from tiles already authenticated here.
//
// Why both: tlog.TileHashReader in x/mod v0.7.0 (Debian's) does not
// authenticate every tile it loads. Its loop "Authenticate full tiles
// against their parents" starts at len(stx), the number of root subtree
// hashes, instead of the number of distinct tiles holding them; when the
// root needs several subtrees from one tile (size 700: six subtrees in two
// tiles) the first child tiles fetched after them are never checked, and a
// tampered full level-0 tile is returned as if proven. The self-test
// demonstrates it.
func (c *checker) checkTreeFromTiles() error {
	n := c.cp.Size
	if n == 0 {
		if c.cp.Root != emptyRoot {
			return fmt.Errorf("checkpoint of the empty tree has root %s, want SHA-256(\"\") = %s (RFC 9162 §2.1.1)", c.cp.Root, emptyRoot)
		}
		return nil
	}
	if _, err := verifyTileTree(n, c.cp.Root, c.tiles.readTile); err != nil {
		return err
	}
	th, err := tlog.TreeHash(n, c.thr)
	if err != nil {
		return fmt.Errorf("tlog.TileHashReader: %w", err)
	}
	if th != c.cp.Root {
		return fmt.Errorf("tlog.TreeHash over the tiles gives %s, checkpoint says %s", th, c.cp.Root)
	}
	return nil
}

// Step 3: every entry bundle.
func (c *checker) checkEntries() error {
	n := c.cp.Size
	if c.cfg.EntryFormat == "greffe-v1" {
		c.rep.Kinds = map[string]int64{}
	}
	var prev tlog.Hash // leaf hash of entry i-1; zero for entry 0
	var prevSeq uint64
	for k := int64(0); k*tileWidth < n; k++ {
		t := tileAt(-1, k, n)
		entries, err := c.tiles.readEntryBundle(t)
		if err != nil {
			return err
		}
		start := k * tileWidth
		indexes := make([]int64, len(entries))
		for j := range entries {
			indexes[j] = tlog.StoredHashIndex(0, start+int64(j))
		}
		hashes, err := c.thr.ReadHashes(indexes)
		if err != nil {
			return fmt.Errorf("level-0 hashes for %s: %w", c2spTilePath(t), err)
		}
		for j, e := range entries {
			i := start + int64(j)
			lh := tlog.RecordHash(e)
			if lh != hashes[j] {
				return fmt.Errorf("entry %d (in %s): leaf hash SHA-256(0x00‖entry) = %s but the level-0 tile says %s", i, c2spTilePath(t), lh, hashes[j])
			}
			if c.cfg.EntryFormat == "greffe-v1" {
				ent, err := decodeEntryV1(e)
				if err != nil {
					return fmt.Errorf("entry %d: %w (entry hex %x)", i, err, e)
				}
				if ent.Index != uint64(i) {
					return fmt.Errorf("entry %d: index field says %d", i, ent.Index)
				}
				if ent.Prev != prev {
					if i == 0 {
						return fmt.Errorf("entry 0: prev is %s, want 32 zero bytes", ent.Prev)
					}
					return fmt.Errorf("entry %d: prev is %s, want the leaf hash of entry %d = %s", i, ent.Prev, i-1, prev)
				}
				if i > 0 && ent.SequencedAt < prevSeq {
					c.rep.warnf("entry %d: sequenced_at %d ms is earlier than entry %d's %d ms", i, ent.SequencedAt, i-1, prevSeq)
				}
				prevSeq = ent.SequencedAt
				c.rep.Kinds[ent.Kind]++
			}
			prev = lh
		}
		c.rep.EntryBundles++
		c.rep.Entries += int64(len(entries))
	}
	return nil
}

// Step 4: acknowledgements and inclusion proofs at the checkpoint size.
func (c *checker) checkAcks() error {
	acks := c.cfg.Acks
	c.rep.Acks = len(acks)
	if len(acks) == 0 {
		return nil
	}
	byID := map[string]ack{}
	byIndex := map[int64]ack{}
	for _, a := range acks {
		if a.Index < 0 || a.Index >= c.cp.Size {
			return fmt.Errorf("%v: index %d not covered by the checkpoint (size %d)", a, a.Index, c.cp.Size)
		}
		if b, ok := byID[a.EventID]; ok && (b.Index != a.Index || b.LeafHash != a.LeafHash) {
			return fmt.Errorf("%v acknowledged twice differently: index %d leaf %s, then index %d leaf %s (idempotence broken)", a, b.Index, b.LeafHash, a.Index, a.LeafHash)
		}
		if b, ok := byIndex[a.Index]; ok && b.EventID != a.EventID {
			return fmt.Errorf("index %d acknowledged for two events: %v and %v", a.Index, b, a)
		}
		byID[a.EventID] = a
		byIndex[a.Index] = a
	}
	c.rep.AckEventIDs = len(byID)

	// Distinct acks, in index order.
	uniq := make([]ack, 0, len(byIndex))
	for _, a := range byIndex {
		uniq = append(uniq, a)
	}
	sort.Slice(uniq, func(i, j int) bool { return uniq[i].Index < uniq[j].Index })

	// The acknowledged leaf hash must be the one in the tiles.
	indexes := make([]int64, len(uniq))
	for i, a := range uniq {
		indexes[i] = tlog.StoredHashIndex(0, a.Index)
	}
	hashes, err := c.thr.ReadHashes(indexes)
	if err != nil {
		return err
	}
	for i, a := range uniq {
		if hashes[i] != a.LeafHash {
			return fmt.Errorf("event %q acknowledged at index %d with leaf hash %s, but the tiles hold %s there", a.EventID, a.Index, a.LeafHash, hashes[i])
		}
	}

	// Inclusion proofs by index: all of them, or a sample (-ack-proofs) on long runs.
	n, root := c.cp.Size, c.cp.Root
	proved := c.sample(len(uniq), len(uniq))
	if c.cfg.AckProofs > 0 {
		proved = c.sample(len(uniq), c.cfg.AckProofs)
	}
	err = parallelFor(len(proved), c.cfg.Parallel, func(k int) error {
		a := uniq[proved[k]]
		q := url.Values{"index": {strconv.FormatInt(a.Index, 10)}, "tree_size": {strconv.FormatInt(n, 10)}}
		p, err := c.inclusionProof(q, a.Index, n)
		if err != nil {
			return fmt.Errorf("event %q: %w", a.EventID, err)
		}
		if p.LeafHash != a.LeafHash {
			return fmt.Errorf("event %q: inclusion answer for index %d has leaf_hash %s, ack said %s", a.EventID, a.Index, p.LeafHash, a.LeafHash)
		}
		if err := tlog.CheckRecord(p.Proof, n, root, a.Index, a.LeafHash); err != nil {
			return fmt.Errorf("event %q: inclusion proof of index %d in tree size %d rejected by tlog.CheckRecord: %v (proof %v)", a.EventID, a.Index, n, err, p.Proof)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.rep.InclusionByIndex = len(proved)

	// By leaf hash (base64url, RFC 4648 §5), for a sample including the
	// first and last; alternately with and without padding. A static
	// directory has no index by hash.
	if c.cfg.TilesOnly {
		return nil
	}
	sample := c.sample(len(uniq), c.cfg.HashSample)
	err = parallelFor(len(sample), c.cfg.Parallel, func(k int) error {
		a := uniq[sample[k]]
		enc := base64.RawURLEncoding
		if k%2 == 1 {
			enc = base64.URLEncoding
		}
		q := url.Values{"leaf_hash": {enc.EncodeToString(a.LeafHash[:])}, "tree_size": {strconv.FormatInt(n, 10)}}
		p, err := c.inclusionProof(q, -1, n)
		if err != nil {
			return fmt.Errorf("event %q by leaf_hash: %w", a.EventID, err)
		}
		if p.LeafHash != a.LeafHash {
			return fmt.Errorf("event %q: lookup by leaf_hash %s answered leaf_hash %s", a.EventID, a.LeafHash, p.LeafHash)
		}
		if p.Index != a.Index {
			// Only possible if two entries are byte-identical, which the
			// greffe-v1 layout (index inside the entry) rules out.
			if c.cfg.EntryFormat == "greffe-v1" {
				return fmt.Errorf("event %q: lookup by leaf_hash answered index %d, ack said %d", a.EventID, p.Index, a.Index)
			}
			hs, err := c.thr.ReadHashes([]int64{tlog.StoredHashIndex(0, p.Index)})
			if err != nil {
				return err
			}
			if hs[0] != a.LeafHash {
				return fmt.Errorf("event %q: lookup by leaf_hash answered index %d whose leaf is %s", a.EventID, p.Index, hs[0])
			}
		}
		if err := tlog.CheckRecord(p.Proof, n, root, p.Index, a.LeafHash); err != nil {
			return fmt.Errorf("event %q: inclusion proof by leaf_hash rejected by tlog.CheckRecord: %v", a.EventID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.rep.InclusionByHash = len(sample)
	return nil
}

// Step 5a: old checkpoints saved during the run.
func (c *checker) checkOldCheckpoints() error {
	type key struct {
		n    int64
		root tlog.Hash
	}
	proved := map[key]bool{}
	for i, text := range c.cfg.OldCheckpoints {
		old, err := openCheckpoint(text, c.verifier)
		if err != nil {
			return fmt.Errorf("old checkpoint #%d: %w\n%s", i+1, err, text)
		}
		if old.Origin != c.cp.Origin {
			return fmt.Errorf("old checkpoint #%d has origin %q, current has %q", i+1, old.Origin, c.cp.Origin)
		}
		if old.Size > c.cp.Size {
			return fmt.Errorf("old checkpoint #%d has size %d but the current checkpoint only %d: the log rolled back", i+1, old.Size, c.cp.Size)
		}
		c.rep.OldCheckpoints++
		if old.Size == 0 {
			if old.Root != emptyRoot {
				return fmt.Errorf("old checkpoint #%d of the empty tree has root %s, want %s", i+1, old.Root, emptyRoot)
			}
			c.rep.OldTrivial++
			continue
		}
		// Independent of any proof: the current tiles must reproduce it.
		fromTiles, err := tlog.TreeHash(old.Size, c.thr)
		if err != nil {
			return err
		}
		if fromTiles != old.Root {
			return fmt.Errorf("old checkpoint #%d (size %d) has root %s, the current tiles give %s: a fork", i+1, old.Size, old.Root, fromTiles)
		}
		k := key{old.Size, old.Root}
		if proved[k] {
			continue
		}
		if err := c.verifyConsistency(old.Size, old.Root, c.cp.Size, c.cp.Root); err != nil {
			return fmt.Errorf("old checkpoint #%d: %w", i+1, err)
		}
		proved[k] = true
		if old.Size == c.cp.Size {
			c.rep.OldTrivial++
		} else {
			c.rep.OldConsistency++
		}
	}
	return nil
}

// Step 5b: proofs between random sizes, against roots from the tiles.
func (c *checker) checkRandomProofs() error {
	n := c.cp.Size
	if n == 0 || c.cfg.RandomProofs <= 0 {
		return nil
	}
	type pair struct{ m, n int64 }
	if n < 2 {
		return nil // no 0 < first < second
	}
	pairs := []pair{{1, n}, {n - 1, n}}
	if n > tileWidth {
		pairs = append(pairs, pair{tileWidth, n}, pair{tileWidth - 1, tileWidth + 1})
	}
	for k := 0; k < c.cfg.RandomProofs; k++ {
		a := 1 + c.rng.Int63n(n-1)     // [1, n-1]
		b := a + 1 + c.rng.Int63n(n-a) // [a+1, n]
		pairs = append(pairs, pair{a, b})
	}
	for _, p := range pairs {
		rm, err := tlog.TreeHash(p.m, c.thr)
		if err != nil {
			return err
		}
		rn, err := tlog.TreeHash(p.n, c.thr)
		if err != nil {
			return err
		}
		if err := c.verifyConsistency(p.m, rm, p.n, rn); err != nil {
			return err
		}
		c.rep.RandomConsistency++
	}
	for k := 0; k < c.cfg.RandomProofs; k++ {
		size := 1 + c.rng.Int63n(n)
		i := c.rng.Int63n(size)
		root, err := tlog.TreeHash(size, c.thr)
		if err != nil {
			return err
		}
		hs, err := c.thr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			return err
		}
		q := url.Values{"index": {strconv.FormatInt(i, 10)}, "tree_size": {strconv.FormatInt(size, 10)}}
		p, err := c.inclusionProof(q, i, size)
		if err != nil {
			return err
		}
		if p.LeafHash != hs[0] {
			return fmt.Errorf("inclusion of %d in size %d: leaf_hash %s, tiles say %s", i, size, p.LeafHash, hs[0])
		}
		if err := tlog.CheckRecord(p.Proof, size, root, i, hs[0]); err != nil {
			return fmt.Errorf("inclusion proof of %d in tree size %d rejected by tlog.CheckRecord: %v", i, size, err)
		}
		c.rep.RandomInclusion++
	}
	return nil
}

// verifyConsistency fetches the proof first→second and checks it. Equal
// sizes need no proof (RFC 9162 §2.1.4 defines proofs for 0 < first <
// second only, so a server may refuse first == second): the roots must be
// equal.
func (c *checker) verifyConsistency(first int64, firstRoot tlog.Hash, second int64, secondRoot tlog.Hash) error {
	if first == second {
		if firstRoot != secondRoot {
			return fmt.Errorf("two roots for tree size %d: %s and %s", first, firstRoot, secondRoot)
		}
		return nil
	}
	q := url.Values{"first": {strconv.FormatInt(first, 10)}, "second": {strconv.FormatInt(second, 10)}}
	proof, err := c.consistencyProof(q, first, second)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(proof, second, secondRoot, first, firstRoot); err != nil {
		return fmt.Errorf("consistency proof %d→%d rejected by tlog.CheckTree: %v (roots %s → %s, proof %v)", first, second, err, firstRoot, secondRoot, proof)
	}
	return nil
}

// Step: API probes. The contract fixes these answers: a tile beyond the
// tree, a malformed tile path or an unknown path is 404; bad proof
// parameters are 4xx with {"error": "..."}.
func (c *checker) checkAPIProbes() error {
	n := c.cp.Size
	// existsAt: the tree size from which the resource may legitimately
	// exist (the log may grow while we check); 0: never.
	type probe struct {
		path     string
		existsAt int64
	}
	fullTile := func(L int, k int64) probe {
		return probe{c2spTilePath(tlog.Tile{H: tileHeight, L: L, N: k, W: tileWidth}), (k + 1) * tileWidth}
	}
	next := (n + tileWidth - 1) / tileWidth // first level-0 tile index with no entry yet
	probes := []probe{fullTile(0, next), fullTile(-1, next), fullTile(0, next+1000)}
	if n%tileWidth != 0 {
		// The full tile and bundle that the last partial ones will become.
		probes = append(probes, fullTile(0, n/tileWidth), fullTile(-1, n/tileWidth))
	}
	for _, p := range []string{
		"tile/0/1", "tile/00/000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/01",
		"tile/0/x000/000", "tile/64/000", "tile/-1/000", "tile/entries/000.p/", "tile/data/000",
		"tile/8/0/000", "no/such/path",
	} {
		probes = append(probes, probe{p, 0})
	}
	for _, p := range probes {
		body, _, status, err := c.get(p.path)
		if err != nil {
			return err
		}
		if status == http.StatusOK && p.existsAt > 0 {
			// Did the log grow past it meanwhile? Then 200 is right.
			if now, err := c.currentSize(); err == nil && now >= p.existsAt {
				continue
			}
		}
		if status != http.StatusNotFound {
			return fmt.Errorf("GET /%s: status %d, want 404 (contract: beyond the tree, malformed or unknown path) body %s", p.path, status, snippet(body))
		}
		c.rep.APIProbes++
	}
	if c.cfg.TilesOnly {
		return nil // a static directory has no proof endpoints to probe
	}
	s := strconv.FormatInt(n, 10)
	huge := strconv.FormatInt(n+1<<40, 10) // beyond the tree even if it grows
	bad := []string{
		"v1/proofs/inclusion?index=" + s + "&tree_size=" + s,
		"v1/proofs/inclusion?index=0&tree_size=" + huge,
		"v1/proofs/inclusion?index=x&tree_size=" + s,
		"v1/proofs/inclusion?index=-1&tree_size=" + s,
		"v1/proofs/inclusion?tree_size=" + s,
		"v1/proofs/inclusion?leaf_hash=not-a-hash&tree_size=" + s,
		"v1/proofs/consistency?first=" + huge + "&second=" + s,
		"v1/proofs/consistency?first=1&second=" + huge,
		"v1/proofs/consistency?first=a&second=" + s,
	}
	for _, p := range bad {
		body, _, status, err := c.get(p)
		if err != nil {
			return err
		}
		if status < 400 || status > 499 {
			return fmt.Errorf("GET /%s: status %d, want 4xx (contract: bad input is 4xx) body %s", p, status, snippet(body))
		}
		var e struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || *e.Error == "" {
			return fmt.Errorf("GET /%s: status %d but body is not {\"error\": \"…\"}: %s", p, status, snippet(body))
		}
		c.rep.APIProbes++
	}
	return nil
}

// currentSize fetches and verifies /checkpoint again and returns its size.
func (c *checker) currentSize() (int64, error) {
	body, _, status, err := c.get("checkpoint")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /checkpoint: status %d", status)
	}
	cp, err := openCheckpoint(body, c.verifier)
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// Step 6: the checker must be able to fail. Each probe feeds a tampered
// input to the same verification path and requires a rejection.
func (c *checker) checkNegatives() error {
	// reject requires err != nil: the tampered input was refused.
	reject := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("negative self-check: %s was ACCEPTED; the checker cannot be trusted", what)
		}
		c.rep.NegativeProbes++
		return nil
	}
	openErr := func(msg []byte, v note.Verifier) error {
		_, err := openCheckpoint(msg, v)
		return err
	}
	// Signature: one flipped bit in the signature, a wrong key, a changed
	// root line under the original signature.
	flipped, err := flipSignatureBit(c.cp.Text, c.verifier)
	if err != nil {
		return err
	}
	if err := reject("checkpoint with a flipped signature bit", openErr(flipped, c.verifier)); err != nil {
		return err
	}
	_, otherKey, err := note.GenerateKey(rand.Reader, c.verifier.Name())
	if err != nil {
		return err
	}
	other, err := note.NewVerifier(otherKey)
	if err != nil {
		return err
	}
	if err := reject("checkpoint under a wrong verifier key", openErr(c.cp.Text, other)); err != nil {
		return err
	}
	forged := bytes.Replace(c.cp.Text, []byte("\n"+c.cp.Root.String()+"\n"), []byte("\n"+flipHash(c.cp.Root).String()+"\n"), 1)
	if err := reject("checkpoint with a changed root", openErr(forged, c.verifier)); err != nil {
		return err
	}
	n, root := c.cp.Size, c.cp.Root
	if n == 0 {
		return nil
	}
	// Inclusion: a real proof from the server, then mutated.
	i := c.rng.Int63n(n)
	q := url.Values{"index": {strconv.FormatInt(i, 10)}, "tree_size": {strconv.FormatInt(n, 10)}}
	p, err := c.inclusionProof(q, i, n)
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(p.Proof, n, root, i, p.LeafHash); err != nil {
		return fmt.Errorf("inclusion proof of %d in %d rejected: %v", i, n, err)
	}
	if err := reject("inclusion proof with a flipped leaf hash bit", tlog.CheckRecord(p.Proof, n, root, i, flipHash(p.LeafHash))); err != nil {
		return err
	}
	if err := reject("inclusion proof against a flipped root", tlog.CheckRecord(p.Proof, n, flipHash(root), i, p.LeafHash)); err != nil {
		return err
	}
	if len(p.Proof) > 0 {
		for k := range p.Proof {
			bad := append(tlog.RecordProof(nil), p.Proof...)
			bad[k] = flipHash(bad[k])
			if err := reject(fmt.Sprintf("inclusion proof with element %d flipped", k), tlog.CheckRecord(bad, n, root, i, p.LeafHash)); err != nil {
				return err
			}
		}
		if err := reject("inclusion proof with an extra element", tlog.CheckRecord(append(append(tlog.RecordProof(nil), p.Proof...), p.Proof[0]), n, root, i, p.LeafHash)); err != nil {
			return err
		}
		if err := reject("inclusion proof with its last element dropped", tlog.CheckRecord(p.Proof[:len(p.Proof)-1], n, root, i, p.LeafHash)); err != nil {
			return err
		}
		j := i + 1
		if j >= n {
			j = i - 1
		}
		if err := reject("inclusion proof for the wrong index", tlog.CheckRecord(p.Proof, n, root, j, p.LeafHash)); err != nil {
			return err
		}
	}
	// Consistency: a real non-trivial proof, then mutated.
	if n >= 2 {
		m := 1 + c.rng.Int63n(n-1)
		rm, err := tlog.TreeHash(m, c.thr)
		if err != nil {
			return err
		}
		qc := url.Values{"first": {strconv.FormatInt(m, 10)}, "second": {strconv.FormatInt(n, 10)}}
		tp, err := c.consistencyProof(qc, m, n)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(tp, n, root, m, rm); err != nil {
			return fmt.Errorf("consistency proof %d→%d rejected: %v", m, n, err)
		}
		for k := range tp {
			bad := append(tlog.TreeProof(nil), tp...)
			bad[k] = flipHash(bad[k])
			if err := reject(fmt.Sprintf("consistency proof with element %d flipped", k), tlog.CheckTree(bad, n, root, m, rm)); err != nil {
				return err
			}
		}
		if err := reject("consistency proof against a flipped old root", tlog.CheckTree(tp, n, root, m, flipHash(rm))); err != nil {
			return err
		}
	}
	// Tiles: a reader that flips one bit of every tile it returns must make
	// tlog's authenticated hash reader fail; one flipped bit in any single
	// tile (the first, and the last level-0 one) must make verifyTileTree fail.
	bad := tlog.TileHashReader(tlog.Tree{N: n, Hash: root}, tamperingTileReader{c.tiles})
	_, err = bad.ReadHashes([]int64{tlog.StoredHashIndex(0, 0)})
	if err := reject("tampered tiles (tlog.TileHashReader)", err); err != nil {
		return err
	}
	for _, victim := range []tlog.Tile{tileAt(0, 0, n), tileAt(0, (n-1)/tileWidth, n)} {
		victim := victim
		read := func(t tlog.Tile) ([]byte, error) {
			data, err := c.tiles.readTile(t)
			if err != nil || t != victim {
				return data, err
			}
			data = append([]byte(nil), data...)
			data[len(data)/2] ^= 0x10
			return data, nil
		}
		_, err := verifyTileTree(n, root, read)
		if err := reject("one flipped bit in "+c2spTilePath(victim), err); err != nil {
			return err
		}
	}
	// Entries: a changed prev or index must fail the layout check.
	if c.cfg.EntryFormat == "greffe-v1" && n >= 2 {
		entries, err := c.tiles.readEntryBundle(tileAt(-1, 0, n))
		if err != nil {
			return err
		}
		e1 := append([]byte(nil), entries[1]...)
		e1[entryPrevOffset] ^= 1
		err = checkEntryV1Link(e1, 1, tlog.RecordHash(entries[0]))
		if err := reject("entry with a flipped prev bit", err); err != nil {
			return err
		}
		e1 = append([]byte(nil), entries[1]...)
		e1[entryIndexOffset+7] ^= 1
		err = checkEntryV1Link(e1, 1, tlog.RecordHash(entries[0]))
		if err := reject("entry with a wrong index field", err); err != nil {
			return err
		}
		if err := checkEntryV1Link(entries[1], 1, tlog.RecordHash(entries[0])); err != nil {
			return fmt.Errorf("entry 1: %v", err)
		}
	}
	return nil
}

// verifyTileTree fetches every hash tile C2SP says a tree of size n has and
// authenticates all of them against root: the root is recomputed from the
// tiles (it depends on exactly the rightmost, partial tile of each level),
// and every full tile must hash (a perfect 256-leaf Merkle tree) to its
// entry in the parent tile. By induction from the top every tile is then
// proven. Returns the number of tiles verified.
func verifyTileTree(n int64, root tlog.Hash, read func(tlog.Tile) ([]byte, error)) (int, error) {
	got, err := tlog.TreeHash(n, tileHashReaderFunc(n, read))
	if err != nil {
		return 0, err
	}
	if got != root {
		return 0, fmt.Errorf("root recomputed from the tiles at size %d is %s, checkpoint says %s", n, got, root)
	}
	verified := 0
	for L := 0; n>>uint(tileHeight*L) > 0; L++ {
		count := n >> uint(tileHeight*L)
		for k := int64(0); k*tileWidth < count; k++ {
			t := tileAt(L, k, n)
			data, err := read(t)
			if err != nil {
				return verified, err
			}
			verified++
			if t.W < tileWidth {
				continue // the rightmost tile: proven by the root
			}
			parent := tileAt(L+1, k/tileWidth, n)
			pdata, err := read(parent)
			if err != nil {
				return verified, err
			}
			want, err := tlog.HashFromTile(parent, pdata, tlog.StoredHashIndex(tileHeight*(L+1), k))
			if err != nil {
				return verified, err
			}
			if h := rootOf(splitHashes(data)); h != want {
				return verified, fmt.Errorf("tile %s hashes to %s but its parent %s holds %s at position %d", c2spTilePath(t), h, c2spTilePath(parent), want, k%tileWidth)
			}
		}
	}
	return verified, nil
}

func splitHashes(data []byte) []tlog.Hash {
	out := make([]tlog.Hash, len(data)/tlog.HashSize)
	for i := range out {
		copy(out[i][:], data[i*tlog.HashSize:])
	}
	return out
}

// checkEntryV1Link decodes a greffe-v1 entry and checks its index and prev.
func checkEntryV1Link(e []byte, index int64, prev tlog.Hash) error {
	ent, err := decodeEntryV1(e)
	if err != nil {
		return err
	}
	if ent.Index != uint64(index) {
		return fmt.Errorf("index field %d, want %d", ent.Index, index)
	}
	if ent.Prev != prev {
		return fmt.Errorf("prev %s, want %s", ent.Prev, prev)
	}
	return nil
}

// sample returns up to k distinct indexes in [0, n), always including the
// first and the last, in increasing order.
func (c *checker) sample(n, k int) []int {
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	if k <= 0 {
		return nil
	}
	set := map[int]bool{0: true, n - 1: true}
	for len(set) < k {
		set[c.rng.Intn(n)] = true
	}
	out := make([]int, 0, len(set))
	for i := range set {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// ---------------------------------------------------------------------------
// HTTP

const maxBody = 64 << 20

func (c *checker) get(path string) (body []byte, hdr http.Header, status int, err error) {
	u, err := c.base.Parse(path)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("bad path %q: %w", path, err)
	}
	resp, err := c.cfg.Client.Get(u.String())
	if err != nil {
		return nil, nil, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if len(body) > maxBody {
		return nil, nil, 0, fmt.Errorf("GET %s: body larger than %d bytes", u, maxBody)
	}
	return body, resp.Header, resp.StatusCode, nil
}

func (c *checker) checkContentType(what string, hdr http.Header, want string) {
	ct := hdr.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != want {
		c.rep.warnf("GET %s: Content-Type %q, want %s", what, ct, want)
	}
}

type inclusionAnswer struct {
	Index    int64
	TreeSize int64
	LeafHash tlog.Hash
	Proof    tlog.RecordProof
}

// inclusionProof GETs /v1/proofs/inclusion?q and checks the answer's shape.
// wantIndex < 0 means the index is not known in advance (lookup by hash).
func (c *checker) inclusionProof(q url.Values, wantIndex, wantSize int64) (inclusionAnswer, error) {
	if c.cfg.TilesOnly {
		return c.inclusionProofFromTiles(wantIndex, wantSize)
	}
	path := "v1/proofs/inclusion?" + q.Encode()
	var raw struct {
		Index    *int64    `json:"index"`
		TreeSize *int64    `json:"tree_size"`
		LeafHash *string   `json:"leaf_hash"`
		Proof    *[]string `json:"proof"`
	}
	if err := c.getJSON(path, &raw); err != nil {
		return inclusionAnswer{}, err
	}
	if raw.Index == nil || raw.TreeSize == nil || raw.LeafHash == nil || raw.Proof == nil {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: answer lacks one of index, tree_size, leaf_hash, proof", path)
	}
	if wantIndex >= 0 && *raw.Index != wantIndex {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: answer has index %d", path, *raw.Index)
	}
	if *raw.TreeSize != wantSize {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: answer has tree_size %d", path, *raw.TreeSize)
	}
	if *raw.Index < 0 || *raw.Index >= wantSize {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: answer has index %d outside the tree", path, *raw.Index)
	}
	lh, err := decodeHash(*raw.LeafHash)
	if err != nil {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: leaf_hash: %w", path, err)
	}
	proof, err := decodeHashes(*raw.Proof)
	if err != nil {
		return inclusionAnswer{}, fmt.Errorf("GET /%s: proof: %w", path, err)
	}
	return inclusionAnswer{Index: *raw.Index, TreeSize: *raw.TreeSize, LeafHash: lh, Proof: proof}, nil
}

func (c *checker) consistencyProof(q url.Values, first, second int64) (tlog.TreeProof, error) {
	if c.cfg.TilesOnly {
		// The client-side proof of C2SP tlog-tiles, over the authenticated tiles.
		return tlog.ProveTree(second, first, c.thr)
	}
	path := "v1/proofs/consistency?" + q.Encode()
	var raw struct {
		First  *int64    `json:"first"`
		Second *int64    `json:"second"`
		Proof  *[]string `json:"proof"`
	}
	if err := c.getJSON(path, &raw); err != nil {
		return nil, err
	}
	if raw.First == nil || raw.Second == nil || raw.Proof == nil {
		return nil, fmt.Errorf("GET /%s: answer lacks one of first, second, proof", path)
	}
	if *raw.First != first || *raw.Second != second {
		return nil, fmt.Errorf("GET /%s: answer is for first=%d second=%d", path, *raw.First, *raw.Second)
	}
	proof, err := decodeHashes(*raw.Proof)
	if err != nil {
		return nil, fmt.Errorf("GET /%s: proof: %w", path, err)
	}
	return tlog.TreeProof(proof), nil
}

// inclusionProofFromTiles is what a tlog-tiles client does without a proof
// API: the leaf hash and the proof read from the authenticated tiles.
func (c *checker) inclusionProofFromTiles(index, size int64) (inclusionAnswer, error) {
	if index < 0 {
		return inclusionAnswer{}, fmt.Errorf("-tiles-only: a lookup by leaf hash needs the proof API")
	}
	hs, err := c.thr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return inclusionAnswer{}, err
	}
	proof, err := tlog.ProveRecord(size, index, c.thr)
	if err != nil {
		return inclusionAnswer{}, fmt.Errorf("tlog.ProveRecord(%d, %d) over the tiles: %w", size, index, err)
	}
	return inclusionAnswer{Index: index, TreeSize: size, LeafHash: hs[0], Proof: proof}, nil
}

func (c *checker) getJSON(path string, v interface{}) error {
	body, hdr, status, err := c.get(path)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /%s: status %d: %s", path, status, snippet(body))
	}
	if mt, _, err := mime.ParseMediaType(hdr.Get("Content-Type")); err != nil || mt != "application/json" {
		return fmt.Errorf("GET /%s: Content-Type %q, want application/json", path, hdr.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET /%s: %v: %s", path, err, snippet(body))
	}
	return nil
}

func snippet(b []byte) string {
	const max = 300
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// decodeHash decodes one standard-base64 (RFC 4648 §4, padded) hash.
func decodeHash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("%q is not standard base64: %v", s, err)
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("%q decodes to %d bytes, want %d", s, len(b), tlog.HashSize)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}

func decodeHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		h, err := decodeHash(s)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = h
	}
	return out, nil
}

func flipHash(h tlog.Hash) tlog.Hash {
	h[0] ^= 1
	return h
}

// parallelFor runs fn(0..n-1) on up to workers goroutines and returns the
// error of the lowest failing i (so messages are deterministic).
func parallelFor(n, workers int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	if workers > n {
		workers = n
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[i] = fn(i); errs[i] != nil {
					failed.Do(func() { close(stop) })
				}
			}
		}()
	}
loop:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-stop:
			break loop
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Checkpoints (C2SP tlog-checkpoint inside a C2SP signed-note)

type checkpoint struct {
	Origin     string
	Size       int64
	Root       tlog.Hash
	Extensions []string
	SignerName string
	Text       []byte // the whole signed note as served
}

// openCheckpoint verifies the note signature with v (note.Open) and parses
// the checkpoint body. tlog.ParseTree is not used: it parses Go's sumdb
// "go.sum database tree" body, not C2SP's origin-first body.
func openCheckpoint(msg []byte, v note.Verifier) (checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return checkpoint{}, fmt.Errorf("checkpoint signature does not verify with key %s+%08x: %v", v.Name(), v.KeyHash(), err)
		}
		return checkpoint{}, fmt.Errorf("checkpoint is not a valid signed note: %v", err)
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return checkpoint{}, err
	}
	cp.SignerName = n.Sigs[0].Name
	cp.Text = append([]byte(nil), msg...)
	return cp, nil
}

// parseCheckpointBody parses the C2SP tlog-checkpoint note text: origin,
// decimal size without leading zeros, standard base64 root, then optional
// non-empty extension lines. note.Open guarantees the text ends in "\n".
func parseCheckpointBody(text string) (checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, errors.New("checkpoint body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, fmt.Errorf("checkpoint body has %d lines, want at least 3 (origin, size, root)", len(lines))
	}
	var cp checkpoint
	cp.Origin = lines[0]
	if cp.Origin == "" {
		return checkpoint{}, errors.New("checkpoint origin line is empty")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return checkpoint{}, fmt.Errorf("checkpoint size line %q is not a canonical decimal", lines[1])
	}
	cp.Size = size
	if cp.Root, err = decodeHash(lines[2]); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint root line: %w", err)
	}
	for i, ext := range lines[3:] {
		if ext == "" {
			return checkpoint{}, fmt.Errorf("checkpoint extension line %d is empty", i+1)
		}
	}
	cp.Extensions = lines[3:]
	return cp, nil
}

// flipSignatureBit returns msg with one bit of the last signature's
// Ed25519 signature (after the 4-byte key ID) flipped.
func flipSignatureBit(msg []byte, v note.Verifier) ([]byte, error) {
	// The bit goes in the signature line of v's key: a cosigned checkpoint also carries witnesses' lines,
	// which the log's verifier ignores, so flipping one of those would prove nothing.
	s := string(msg)
	body := strings.Index(s, "\n\n")
	if body < 0 {
		return nil, fmt.Errorf("no signature block in %q", s)
	}
	lines := strings.Split(strings.TrimSuffix(s[body+2:], "\n"), "\n")
	prefix := "— " + v.Name() + " "
	for i, line := range lines {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(line[len(prefix):])
		if err != nil || len(sig) < 5 || binary.BigEndian.Uint32(sig[:4]) != v.KeyHash() {
			continue
		}
		sig[4] ^= 1
		lines[i] = prefix + base64.StdEncoding.EncodeToString(sig)
		return []byte(s[:body+2] + strings.Join(lines, "\n") + "\n"), nil
	}
	return nil, fmt.Errorf("cannot find a signature line of %s in %q", v.Name(), s)
}

// splitNotes splits a file of notes separated by lines holding only ---.
func splitNotes(data []byte) [][]byte {
	var notes [][]byte
	var cur strings.Builder
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			notes = append(notes, []byte(cur.String()))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return notes
}

// parseAcks parses JSON lines {"index": I, "leaf_hash": "…", "event_id": "…"}.
func parseAcks(data []byte) ([]ack, error) {
	var acks []ack
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var raw struct {
			Index    *int64  `json:"index"`
			LeafHash *string `json:"leaf_hash"`
			EventID  *string `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if raw.Index == nil || raw.LeafHash == nil || raw.EventID == nil {
			return nil, fmt.Errorf("line %d: want index, leaf_hash and event_id", line)
		}
		h, err := decodeHash(*raw.LeafHash)
		if err != nil {
			return nil, fmt.Errorf("line %d: leaf_hash: %w", line, err)
		}
		acks = append(acks, ack{Index: *raw.Index, LeafHash: h, EventID: *raw.EventID, Line: line})
	}
	return acks, sc.Err()
}

// ---------------------------------------------------------------------------
// Tiles (C2SP tlog-tiles, height 8)

// c2spTilePath maps Go's tile path tile/H/L/NNN[.p/W] (L = "data" for
// entries) to the C2SP one tile/L/NNN[.p/W] (L = "entries" for entries).
func c2spTilePath(t tlog.Tile) string {
	p := t.Path()
	prefix := "tile/" + strconv.Itoa(t.H) + "/"
	if t.H != tileHeight || !strings.HasPrefix(p, prefix) {
		panic("tlogcheck: bad math in c2spTilePath: " + p)
	}
	rest := p[len(prefix):]
	if strings.HasPrefix(rest, "data/") {
		rest = "entries/" + rest[len("data/"):]
	}
	return "tile/" + rest
}

// tileAt returns the tile at level L (-1: entry bundles), number n, for a
// tree of the given size: full, or partial with the width C2SP requires.
func tileAt(L int, n int64, treeSize int64) tlog.Tile {
	lvl := L
	if lvl < 0 {
		lvl = 0
	}
	count := treeSize >> uint(tileHeight*lvl) // hashes at this level
	w := count - n*tileWidth
	if w > tileWidth {
		w = tileWidth
	}
	if w < 1 {
		panic(fmt.Sprintf("tlogcheck: bad math in tileAt(%d, %d, %d)", L, n, treeSize))
	}
	return tlog.Tile{H: tileHeight, L: L, N: n, W: int(w)}
}

// httpTileReader is a tlog.TileReader over HTTP. It caches what it has
// fetched; SaveTiles is a no-op (nothing is persisted).
type httpTileReader struct {
	c *checker

	mu        sync.Mutex
	cache     map[tlog.Tile][]byte
	viaFull   map[tlog.Tile]bool // served from the full tile (partial missing)
	fetched   int
	bytes     int64
	fallbacks int
}

func newHTTPTileReader(c *checker) *httpTileReader {
	return &httpTileReader{c: c, cache: map[tlog.Tile][]byte{}, viaFull: map[tlog.Tile]bool{}}
}

func (r *httpTileReader) Height() int { return tileHeight }

func (r *httpTileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (r *httpTileReader) stats() (int, int64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetched, r.bytes, r.fallbacks
}

func (r *httpTileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	err := parallelFor(len(tiles), r.c.cfg.Parallel, func(i int) error {
		data, err := r.readTile(tiles[i])
		out[i] = data
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readTile fetches one tile (or entry bundle, raw) and checks its length
// for hash tiles. A missing partial tile falls back to the full tile,
// as C2SP tlog-tiles allows logs to delete partial tiles once full.
func (r *httpTileReader) readTile(t tlog.Tile) ([]byte, error) {
	r.mu.Lock()
	if data, ok := r.cache[t]; ok {
		r.mu.Unlock()
		return data, nil
	}
	r.mu.Unlock()

	path := c2spTilePath(t)
	body, hdr, status, err := r.c.get(path)
	if err != nil {
		return nil, err
	}
	fallback := false
	if status == http.StatusNotFound && t.W < tileWidth {
		full := t
		full.W = tileWidth
		fbody, fhdr, fstatus, err := r.c.get(c2spTilePath(full))
		if err != nil {
			return nil, err
		}
		if fstatus == http.StatusOK {
			body, hdr, status, fallback = fbody, fhdr, fstatus, true
		}
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /%s: status %d: %s", path, status, snippet(body))
	}
	r.c.checkContentType("/"+path, hdr, "application/octet-stream")
	if t.L >= 0 {
		want := t.W * tlog.HashSize
		if fallback {
			if len(body) != tileWidth*tlog.HashSize {
				return nil, fmt.Errorf("GET /%s (full tile for missing %s): %d bytes, want %d", c2spTilePath(tlog.Tile{H: t.H, L: t.L, N: t.N, W: tileWidth}), path, len(body), tileWidth*tlog.HashSize)
			}
			body = body[:want]
		} else if len(body) != want {
			return nil, fmt.Errorf("GET /%s: %d bytes, want %d (%d hashes of 32 bytes)", path, len(body), want, t.W)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache[t] = body
	r.fetched++
	r.bytes += int64(len(body))
	if fallback {
		r.fallbacks++
		r.viaFull[t] = true
	}
	return body, nil
}

// readEntryBundle fetches the entry bundle t (t.L == -1) and splits it
// into exactly t.W entries (big-endian uint16 length prefixes).
func (r *httpTileReader) readEntryBundle(t tlog.Tile) ([][]byte, error) {
	data, err := r.readTile(t)
	if err != nil {
		return nil, err
	}
	path := c2spTilePath(t)
	var entries [][]byte
	for off := 0; off < len(data); {
		if len(entries) == t.W {
			if r.isFallback(t) {
				break // the full bundle stood in for a missing partial one
			}
			return nil, fmt.Errorf("GET /%s: %d trailing bytes after %d entries", path, len(data)-off, t.W)
		}
		if len(data)-off < 2 {
			return nil, fmt.Errorf("GET /%s: truncated length prefix at byte %d", path, off)
		}
		l := int(binary.BigEndian.Uint16(data[off:]))
		off += 2
		if len(data)-off < l {
			return nil, fmt.Errorf("GET /%s: entry %d claims %d bytes, only %d left", path, len(entries), l, len(data)-off)
		}
		entries = append(entries, data[off:off+l])
		off += l
	}
	if len(entries) != t.W {
		return nil, fmt.Errorf("GET /%s: %d entries, want %d", path, len(entries), t.W)
	}
	return entries, nil
}

func (r *httpTileReader) isFallback(t tlog.Tile) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.viaFull[t]
}

// tileHashReaderFunc reads stored hashes straight out of the (unverified)
// tiles of a tree of size n, for an independent root recomputation.
func tileHashReaderFunc(n int64, read func(tlog.Tile) ([]byte, error)) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			t := tlog.TileForIndex(tileHeight, x)
			t = tileAt(t.L, t.N, n)
			data, err := read(t)
			if err != nil {
				return nil, err
			}
			if out[i], err = tlog.HashFromTile(t, data, x); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}

// tamperingTileReader returns copies of the tiles with one bit flipped.
type tamperingTileReader struct{ tr tlog.TileReader }

func (t tamperingTileReader) Height() int                             { return t.tr.Height() }
func (t tamperingTileReader) SaveTiles(tiles []tlog.Tile, d [][]byte) {}
func (t tamperingTileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data, err := t.tr.ReadTiles(tiles)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(data))
	for i, d := range data {
		out[i] = append([]byte(nil), d...)
		out[i][len(d)-1] ^= 0x80
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// The Greffe entry layout, version 1
//
//	byte  0        version 0x01, or 0x02 (layout 2: the same bytes; only what the
//	               commitment commits to differs, a field tree, Schemas/entry.md)
//	bytes 1..8     index, uint64 big-endian
//	bytes 9..16    sequenced_at, Unix milliseconds, uint64 big-endian
//	bytes 17..48   prev: RFC 9162 leaf hash of entry index-1 (zeros for 0)
//	bytes 49..80   commitment (32 bytes)
//	byte  81       kind length k
//	bytes 82..82+k kind, ASCII (exclusive end: the entry is 82+k bytes)

const (
	entryVersion1      = 0x01
	entryVersion2      = 0x02
	entryIndexOffset   = 1
	entrySeqOffset     = 9
	entryPrevOffset    = 17
	entryCommitOffset  = 49
	entryKindLenOffset = 81
	entryFixedLen      = 82
)

type entryV1 struct {
	Index       uint64
	SequencedAt uint64
	Prev        tlog.Hash
	Commitment  [32]byte
	Kind        string
}

func decodeEntryV1(e []byte) (entryV1, error) {
	var ent entryV1
	if len(e) < entryFixedLen {
		return ent, fmt.Errorf("greffe-v1 entry is %d bytes, shorter than the fixed %d", len(e), entryFixedLen)
	}
	if e[0] != entryVersion1 && e[0] != entryVersion2 {
		return ent, fmt.Errorf("entry version byte 0x%02x, want 0x01 or 0x02", e[0])
	}
	k := int(e[entryKindLenOffset])
	if len(e) != entryFixedLen+k {
		return ent, fmt.Errorf("greffe-v1 entry is %d bytes, want %d (82 + kind length %d)", len(e), entryFixedLen+k, k)
	}
	if k == 0 {
		return ent, errors.New("greffe-v1 entry has an empty kind")
	}
	for _, b := range e[entryFixedLen:] {
		if b < 0x20 || b > 0x7e {
			return ent, fmt.Errorf("kind %q is not printable ASCII", e[entryFixedLen:])
		}
	}
	ent.Index = binary.BigEndian.Uint64(e[entryIndexOffset:])
	ent.SequencedAt = binary.BigEndian.Uint64(e[entrySeqOffset:])
	copy(ent.Prev[:], e[entryPrevOffset:entryCommitOffset])
	copy(ent.Commitment[:], e[entryCommitOffset:entryKindLenOffset])
	ent.Kind = string(e[entryFixedLen:])
	return ent, nil
}

func encodeEntryV1(ent entryV1) []byte {
	e := make([]byte, entryFixedLen+len(ent.Kind))
	e[0] = entryVersion1
	binary.BigEndian.PutUint64(e[entryIndexOffset:], ent.Index)
	binary.BigEndian.PutUint64(e[entrySeqOffset:], ent.SequencedAt)
	copy(e[entryPrevOffset:], ent.Prev[:])
	copy(e[entryCommitOffset:], ent.Commitment[:])
	e[entryKindLenOffset] = byte(len(ent.Kind))
	copy(e[entryFixedLen:], ent.Kind)
	return e
}

// ---------------------------------------------------------------------------
// Self-test: Go-produced vectors and an in-process log server

type vectorFile struct {
	Description string      `json:"description"`
	EmptyRoot   tlog.Hash   `json:"empty_root"`
	Entries     [][]byte    `json:"entries"`
	LeafHashes  []tlog.Hash `json:"leaf_hashes"`
	Roots       []struct {
		TreeSize int64     `json:"tree_size"`
		Root     tlog.Hash `json:"root"`
	} `json:"roots"`
	Inclusion        []inclusionVector   `json:"inclusion"`
	InclusionInvalid []inclusionVector   `json:"inclusion_invalid"`
	Consistency      []consistencyVector `json:"consistency"`
	ConsistencyInv   []consistencyVector `json:"consistency_invalid"`
	Tiles            []struct {
		TreeSize int64             `json:"tree_size"`
		Tiles    map[string][]byte `json:"tiles"`
	} `json:"tiles"`
	Checkpoints struct {
		VerifierKey string `json:"verifier_key"`
		Notes       []struct {
			TreeSize int64  `json:"tree_size"`
			Note     string `json:"note"`
		} `json:"notes"`
	} `json:"checkpoints"`
}

type inclusionVector struct {
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	Root     tlog.Hash   `json:"root"`
	Proof    []tlog.Hash `json:"proof"`
	Reason   string      `json:"reason"`
}

type consistencyVector struct {
	First      int64       `json:"first"`
	Second     int64       `json:"second"`
	FirstRoot  tlog.Hash   `json:"first_root"`
	SecondRoot tlog.Hash   `json:"second_root"`
	Proof      []tlog.Hash `json:"proof"`
	Reason     string      `json:"reason"`
}

type selftest struct {
	out    io.Writer
	checks int
}

func (s *selftest) okf(format string, args ...interface{}) {
	s.checks++
	fmt.Fprintf(s.out, "selftest: ok   "+format+"\n", args...)
}

func runSelfTest(path string, out io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s := &selftest{out: out}
	fmt.Fprintf(out, "selftest: vectors %s\nselftest: %s\n", path, vf.Description)
	steps := []func(*vectorFile) error{
		s.vectorLeaves,
		s.vectorTiles,
		s.vectorCheckpoints,
		s.vectorProofs,
		s.vectorServers,
		s.greffeV1Log,
		s.greffeV1Probes,
	}
	for _, step := range steps {
		if err := step(&vf); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "selftest: OK (%d checks)\n", s.checks)
	return nil
}

// Leaves: entries hash to the leaf hashes; the empty root is SHA-256("").
func (s *selftest) vectorLeaves(vf *vectorFile) error {
	if len(vf.Entries) != len(vf.LeafHashes) || len(vf.Entries) == 0 {
		return fmt.Errorf("vectors: %d entries, %d leaf hashes", len(vf.Entries), len(vf.LeafHashes))
	}
	for i, e := range vf.Entries {
		if tlog.RecordHash(e) != vf.LeafHashes[i] {
			return fmt.Errorf("vectors: RecordHash(entry %d) = %s, vector %s", i, tlog.RecordHash(e), vf.LeafHashes[i])
		}
	}
	if vf.EmptyRoot != emptyRoot {
		return fmt.Errorf("vectors: empty_root %s, want SHA-256(\"\") %s", vf.EmptyRoot, emptyRoot)
	}
	s.okf("%d entries hash to their leaf hashes; empty root is SHA-256(\"\")", len(vf.Entries))
	return nil
}

// Tiles: the tiles and bundles this program generates (paths via
// c2spTilePath, data via tlog.ReadTileData) are byte-identical to the
// vector file's, key set included.
func (s *selftest) vectorTiles(vf *vectorFile) error {
	if len(vf.Tiles) == 0 {
		return errors.New("vectors: no tiles")
	}
	for _, ts := range vf.Tiles {
		if ts.TreeSize > int64(len(vf.Entries)) {
			return fmt.Errorf("vectors: tiles for size %d but only %d entries", ts.TreeSize, len(vf.Entries))
		}
		ml := newMemLog(vf.Entries[:ts.TreeSize])
		files := ml.tileFiles()
		if len(files) != len(ts.Tiles) {
			return fmt.Errorf("size %d: generated %d tile files, vectors have %d (%v vs %v)", ts.TreeSize, len(files), len(ts.Tiles), sortedKeys(files), sortedKeys(ts.Tiles))
		}
		for p, want := range ts.Tiles {
			got, ok := files[p]
			if !ok {
				return fmt.Errorf("size %d: vector tile %s not generated (have %v)", ts.TreeSize, p, sortedKeys(files))
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("size %d: tile %s differs from the vector", ts.TreeSize, p)
			}
		}
		s.okf("size %d: %d tiles and bundles identical to the vectors (%v)", ts.TreeSize, len(files), sortedKeys(files))
	}
	// Path encoding spot checks from C2SP tlog-tiles.
	for _, tc := range []struct {
		t    tlog.Tile
		want string
	}{
		{tlog.Tile{H: 8, L: 4, N: 1234067, W: 1}, "tile/4/x001/x234/067.p/1"},
		{tlog.Tile{H: 8, L: 0, N: 1234067, W: 256}, "tile/0/x001/x234/067"},
		{tlog.Tile{H: 8, L: -1, N: 1000, W: 256}, "tile/entries/x001/000"},
		{tlog.Tile{H: 8, L: -1, N: 5, W: 255}, "tile/entries/005.p/255"},
	} {
		if got := c2spTilePath(tc.t); got != tc.want {
			return fmt.Errorf("c2spTilePath(%+v) = %s, want %s", tc.t, got, tc.want)
		}
	}
	// C2SP: a tree of size 70,000 has 273 full level-0 tiles, a partial of
	// width 112, a full level-1 tile, a partial of width 17, and a partial
	// level-2 tile of width 1; size 256 has a partial level-1 tile of width 1.
	if got := tilesForSize(70000); got != "L0: 273 full + .p/112; L1: 1 full + .p/17; L2: 0 full + .p/1" {
		return fmt.Errorf("tiles for 70000: %s", got)
	}
	if got := tilesForSize(256); got != "L0: 1 full; L1: 0 full + .p/1" {
		return fmt.Errorf("tiles for 256: %s", got)
	}
	s.okf("tile path encoding and C2SP's size-70000 and size-256 examples")
	return nil
}

func tilesForSize(n int64) string {
	var parts []string
	for L := 0; n>>uint(tileHeight*L) > 0; L++ {
		count := n >> uint(tileHeight*L)
		p := fmt.Sprintf("L%d: %d full", L, count/tileWidth)
		if count%tileWidth != 0 {
			t := tileAt(L, count/tileWidth, n)
			p += fmt.Sprintf(" + .p/%d", t.W)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// Checkpoints: every vector note verifies with the vector key and parses
// (one has an extension line); roots agree; tampering is rejected.
func (s *selftest) vectorCheckpoints(vf *vectorFile) error {
	v, err := note.NewVerifier(vf.Checkpoints.VerifierKey)
	if err != nil {
		return err
	}
	roots := map[int64]tlog.Hash{}
	for _, r := range vf.Roots {
		roots[r.TreeSize] = r.Root
	}
	for _, n := range vf.Checkpoints.Notes {
		cp, err := openCheckpoint([]byte(n.Note), v)
		if err != nil {
			return fmt.Errorf("vector checkpoint %d: %w", n.TreeSize, err)
		}
		if cp.Size != n.TreeSize {
			return fmt.Errorf("vector checkpoint %d parses to size %d", n.TreeSize, cp.Size)
		}
		if r, ok := roots[cp.Size]; ok && r != cp.Root {
			return fmt.Errorf("vector checkpoint %d: root %s, roots[] says %s", n.TreeSize, cp.Root, r)
		}
		if cp.Size == 0 && cp.Root != emptyRoot {
			return fmt.Errorf("vector checkpoint 0: root %s", cp.Root)
		}
		if cp.Size <= int64(len(vf.LeafHashes)) {
			if root := rootOf(vf.LeafHashes[:cp.Size]); root != cp.Root {
				return fmt.Errorf("vector checkpoint %d: root %s, computed %s", cp.Size, cp.Root, root)
			}
		}
		flipped, err := flipSignatureBit([]byte(n.Note), v)
		if err != nil {
			return err
		}
		if _, err := openCheckpoint(flipped, v); err == nil {
			return fmt.Errorf("vector checkpoint %d with a flipped signature bit accepted", n.TreeSize)
		}
		_, otherKey, _ := note.GenerateKey(rand.Reader, v.Name())
		other, _ := note.NewVerifier(otherKey)
		if _, err := openCheckpoint([]byte(n.Note), other); err == nil {
			return fmt.Errorf("vector checkpoint %d accepted under a wrong key", n.TreeSize)
		}
		s.okf("checkpoint size %d verifies (%d extension lines); flipped signature and wrong key rejected", cp.Size, len(cp.Extensions))
	}
	for _, bad := range []string{
		"o\n01\n" + emptyRoot.String() + "\n",
		"o\n-1\n" + emptyRoot.String() + "\n",
		"\n0\n" + emptyRoot.String() + "\n",
		"o\n0\n" + strings.TrimRight(emptyRoot.String(), "=") + "\n",
		"o\n0\n" + emptyRoot.String() + "\n\n",
		"o\n0\n",
	} {
		if _, err := parseCheckpointBody(bad); err == nil {
			return fmt.Errorf("malformed checkpoint body %q accepted", bad)
		}
	}
	s.okf("malformed checkpoint bodies rejected")
	return nil
}

// Proofs: roots from the tiles, valid proofs accepted (and equal to what
// tlog.ProveRecord/ProveTree derive from the tiles), invalid ones rejected.
func (s *selftest) vectorProofs(vf *vectorFile) error {
	var big int64
	var bigTiles map[string][]byte
	for _, ts := range vf.Tiles {
		if ts.TreeSize > big {
			big, bigTiles = ts.TreeSize, ts.Tiles
		}
	}
	srv := httptest.NewServer(staticFiles(bigTiles))
	defer srv.Close()
	c := &checker{cfg: config{Client: srv.Client(), Parallel: 4}, rep: &report{}}
	c.base, _ = url.Parse(srv.URL + "/")
	c.tiles = newHTTPTileReader(c)
	root := rootOf(vf.LeafHashes[:big])
	thr := tlog.TileHashReader(tlog.Tree{N: big, Hash: root}, c.tiles)

	nroots := 0
	for _, r := range vf.Roots {
		if r.TreeSize == 0 || r.TreeSize > big {
			continue
		}
		got, err := tlog.TreeHash(r.TreeSize, thr)
		if err != nil {
			return err
		}
		if got != r.Root {
			return fmt.Errorf("root of size %d from tiles %s, vector %s", r.TreeSize, got, r.Root)
		}
		nroots++
	}
	s.okf("%d vector roots (sizes 1..%d) recomputed via TileHashReader+TreeHash over served tiles", nroots, big)

	// The x/mod v0.7.0 TileHashReader gap (see checkTreeFromTiles): at
	// size 1000 a tampered full tile/0/001 is returned unchallenged;
	// verifyTileTree must reject it.
	tampered := map[string][]byte{}
	for _, ts := range vf.Tiles {
		if ts.TreeSize == 1000 {
			for p, d := range ts.Tiles {
				tampered[p] = append([]byte(nil), d...)
			}
		}
	}
	if len(tampered) > 0 {
		tampered["tile/0/001"][0] ^= 1
		tsrv := httptest.NewServer(staticFiles(tampered))
		defer tsrv.Close()
		tc := &checker{cfg: config{Client: tsrv.Client(), Parallel: 4}, rep: &report{}}
		tc.base, _ = url.Parse(tsrv.URL + "/")
		tc.tiles = newHTTPTileReader(tc)
		root1000 := rootOf(vf.LeafHashes[:1000])
		gothr := tlog.TileHashReader(tlog.Tree{N: 1000, Hash: root1000}, tc.tiles)
		hs, goErr := gothr.ReadHashes([]int64{tlog.StoredHashIndex(0, 256)})
		if goErr == nil && hs[0] != vf.LeafHashes[256] {
			fmt.Fprintf(s.out, "selftest: note x/mod %s (Debian's): tlog.TileHashReader returned leaf 256 from a tampered tile/0/001 without error (%s, true %s); tlogcheck does not rely on it\n", "v0.7.0", hs[0], vf.LeafHashes[256])
		}
		if _, err := verifyTileTree(1000, root1000, tc.tiles.readTile); err == nil {
			return errors.New("verifyTileTree accepted a tampered tile/0/001 at size 1000")
		}
		s.okf("tampered full tile/0/001 at size 1000 rejected by verifyTileTree")
	}

	nin := 0
	for _, v := range vf.Inclusion {
		if err := tlog.CheckRecord(v.Proof, v.TreeSize, v.Root, v.Index, v.LeafHash); err != nil {
			return fmt.Errorf("valid inclusion vector %d in %d rejected: %v", v.Index, v.TreeSize, err)
		}
		if v.TreeSize <= big {
			p, err := tlog.ProveRecord(v.TreeSize, v.Index, thr)
			if err != nil {
				return err
			}
			if !equalHashes(p, v.Proof) {
				return fmt.Errorf("inclusion %d in %d: proof from tiles differs from the vector", v.Index, v.TreeSize)
			}
			nin++
		}
	}
	for _, v := range vf.InclusionInvalid {
		if err := tlog.CheckRecord(v.Proof, v.TreeSize, v.Root, v.Index, v.LeafHash); err == nil {
			return fmt.Errorf("invalid inclusion vector (%s) accepted", v.Reason)
		}
	}
	s.okf("%d valid inclusion vectors accepted (%d re-derived from tiles), %d invalid rejected", len(vf.Inclusion), nin, len(vf.InclusionInvalid))

	ncons := 0
	for _, v := range vf.Consistency {
		if v.First == 0 {
			continue // RFC 9162 defines no consistency proof from the empty tree
		}
		if err := tlog.CheckTree(v.Proof, v.Second, v.SecondRoot, v.First, v.FirstRoot); err != nil {
			return fmt.Errorf("valid consistency vector %d→%d rejected: %v", v.First, v.Second, err)
		}
		if v.Second <= big {
			p, err := tlog.ProveTree(v.Second, v.First, thr)
			if err != nil {
				return err
			}
			if !equalHashes(p, v.Proof) {
				return fmt.Errorf("consistency %d→%d: proof from tiles differs from the vector", v.First, v.Second)
			}
			ncons++
		}
	}
	for _, v := range vf.ConsistencyInv {
		if v.First < 1 || v.First > v.Second {
			continue
		}
		if err := tlog.CheckTree(v.Proof, v.Second, v.SecondRoot, v.First, v.FirstRoot); err == nil {
			return fmt.Errorf("invalid consistency vector %d→%d (%s) accepted", v.First, v.Second, v.Reason)
		}
	}
	s.okf("%d valid consistency vectors accepted (%d re-derived from tiles), %d invalid rejected", len(vf.Consistency), ncons, len(vf.ConsistencyInv))
	return nil
}

// Servers: the whole checker, against an in-process server publishing each
// vector tree (vector tiles, vector checkpoint), with acks for every leaf
// and the smaller vector checkpoints as old checkpoints.
func (s *selftest) vectorServers(vf *vectorFile) error {
	notes := map[int64]string{}
	for _, n := range vf.Checkpoints.Notes {
		notes[n.TreeSize] = n.Note
	}
	for _, ts := range vf.Tiles {
		cpText, ok := notes[ts.TreeSize]
		if !ok {
			return fmt.Errorf("no vector checkpoint for tile size %d", ts.TreeSize)
		}
		ml := newMemLog(vf.Entries[:ts.TreeSize])
		ml.files = ts.Tiles // serve the vector's own bytes
		ml.checkpoint = []byte(cpText)
		var old [][]byte
		for size, text := range notes {
			if size <= ts.TreeSize {
				old = append(old, []byte(text))
			}
		}
		var acks []ack
		for i := int64(0); i < ts.TreeSize; i++ {
			acks = append(acks, ack{Index: i, LeafHash: vf.LeafHashes[i], EventID: fmt.Sprintf("vector-%d", i)})
		}
		rep, err := ml.check(vf.Checkpoints.VerifierKey, acks, old, "none")
		if err != nil {
			return fmt.Errorf("checker against the vector log of size %d: %w", ts.TreeSize, err)
		}
		s.okf("full checker run against the vector log of size %d: %d entries, %d inclusion proofs, %d old checkpoints, %d negative probes", ts.TreeSize, rep.Entries, rep.InclusionByIndex+rep.InclusionByHash, rep.OldCheckpoints, rep.NegativeProbes)
	}
	return nil
}

// A synthetic log in the greffe-v1 layout, signed with a throwaway key.
type synthLog struct {
	entries [][]byte
	skey    string
	vkey    string
	origin  string
}

func newSynthLog(n int, mutate func(i int, e *entryV1)) (*synthLog, error) {
	origin := "example.com/tlogcheck-selftest"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, err
	}
	kinds := []string{"generation.requested", "generation.completed", "content.flagged", "erasure.executed"}
	sl := &synthLog{skey: skey, vkey: vkey, origin: origin}
	var prev tlog.Hash
	t0 := uint64(1_700_000_000_000)
	for i := 0; i < n; i++ {
		ent := entryV1{Index: uint64(i), SequencedAt: t0 + uint64(i/7), Prev: prev, Kind: kinds[i%len(kinds)]}
		ent.Commitment = sha256.Sum256([]byte(fmt.Sprintf("commitment %d", i)))
		if mutate != nil {
			mutate(i, &ent)
		}
		e := encodeEntryV1(ent)
		sl.entries = append(sl.entries, e)
		prev = tlog.RecordHash(e)
	}
	return sl, nil
}

// sign returns the signed checkpoint of the first n entries.
func (sl *synthLog) sign(n int64, ext ...string) []byte {
	return sl.signRoot(n, rootOf(leafHashes(sl.entries[:n])), ext...)
}

func (sl *synthLog) signRoot(n int64, root tlog.Hash, ext ...string) []byte {
	body := fmt.Sprintf("%s\n%d\n%s\n", sl.origin, n, root)
	for _, e := range ext {
		body += e + "\n"
	}
	signer, err := note.NewSigner(sl.skey)
	if err != nil {
		panic(err)
	}
	msg, err := note.Sign(&note.Note{Text: body}, signer)
	if err != nil {
		panic(err)
	}
	return msg
}

func (sl *synthLog) acks(every int) []ack {
	var out []ack
	for i, e := range sl.entries {
		if i%every == 0 || i == len(sl.entries)-1 {
			out = append(out, ack{Index: int64(i), LeafHash: tlog.RecordHash(e), EventID: fmt.Sprintf("synth-%d", i)})
		}
	}
	return out
}

func (s *selftest) greffeV1Log(vf *vectorFile) error {
	for _, tc := range []struct {
		n, every int
	}{{1, 1}, {2, 1}, {256, 1}, {700, 1}, {65536 + 513, 97}} {
		sl, err := newSynthLog(tc.n, nil)
		if err != nil {
			return err
		}
		ml := newMemLog(sl.entries)
		ml.checkpoint = sl.sign(int64(tc.n), "an extension line")
		var old [][]byte
		for _, m := range []int64{0, 1, 255, 256, 257, int64(tc.n) / 2, int64(tc.n)} {
			if m <= int64(tc.n) {
				old = append(old, sl.sign(m))
			}
		}
		rep, err := ml.check(sl.vkey, sl.acks(tc.every), old, "greffe-v1")
		if err != nil {
			return fmt.Errorf("checker against a greffe-v1 log of size %d: %w", tc.n, err)
		}
		s.okf("full checker run against a greffe-v1 log of size %d: %d bundles, %d tiles, kinds %v, %d proofs, %d API probes, %d negative probes", tc.n, rep.EntryBundles, rep.TilesFetched, rep.Kinds, rep.InclusionByIndex+rep.InclusionByHash+rep.OldConsistency+rep.RandomConsistency+rep.RandomInclusion, rep.APIProbes, rep.NegativeProbes)
	}
	// The empty log.
	sl, _ := newSynthLog(0, nil)
	ml := newMemLog(nil)
	ml.checkpoint = sl.signRoot(0, emptyRoot)
	if _, err := ml.check(sl.vkey, nil, [][]byte{ml.checkpoint}, "greffe-v1"); err != nil {
		return fmt.Errorf("checker against the empty log: %w", err)
	}
	s.okf("full checker run against the empty log")
	// The log grows while it is being checked: the checker reads the
	// checkpoint of size 300, the server then publishes size 600 and
	// deletes the level-0 partial tile and bundle for 300 (C2SP allows
	// it once the full ones exist). The checker must fall back to the
	// full tile and bundle.
	sl, _ = newSynthLog(600, nil)
	ml = newMemLog(sl.entries)
	for p, data := range newMemLog(sl.entries[:300]).files {
		if !strings.HasPrefix(p, "tile/0/") && !strings.HasPrefix(p, "tile/entries/") {
			ml.files[p] = data // tile/1/000.p/1 stays: tile/1/000 is not full
		}
	}
	ml.checkpoint = sl.sign(300)
	ml.later = sl.sign(600)
	rep, err := ml.check(sl.vkey, sl.acks(1)[:300], [][]byte{sl.sign(100)}, "greffe-v1")
	if err != nil {
		return fmt.Errorf("checker with partial tiles replaced by full ones: %w", err)
	}
	if rep.PartialFallbacks == 0 {
		return errors.New("partial-tile fallback not exercised")
	}
	s.okf("log grown during the check, partial tiles deleted: %d fallbacks to full tiles, all checks pass", rep.PartialFallbacks)
	return nil
}

// Mutation probes: each serves a subtly broken log; the checker must fail,
// and for the right reason.
func (s *selftest) greffeV1Probes(vf *vectorFile) error {
	const n = 700
	good, err := newSynthLog(n, nil)
	if err != nil {
		return err
	}
	type probe struct {
		name    string
		setup   func() (*memLog, string, []ack, [][]byte, error)
		wantErr string
	}
	std := func(sl *synthLog) (*memLog, string, []ack, [][]byte) {
		ml := newMemLog(sl.entries)
		ml.checkpoint = sl.sign(n)
		return ml, sl.vkey, sl.acks(1), [][]byte{sl.sign(1), sl.sign(300)}
	}
	withEntries := func(mut func(i int, e *entryV1)) func() (*memLog, string, []ack, [][]byte, error) {
		return func() (*memLog, string, []ack, [][]byte, error) {
			sl, err := newSynthLog(n, mut)
			if err != nil {
				return nil, "", nil, nil, err
			}
			// A fresh key, log and checkpoints around the broken entries.
			ml, vkey, acks, old := std(sl)
			return ml, vkey, acks, old, nil
		}
	}
	withServer := func(mut func(ml *memLog)) func() (*memLog, string, []ack, [][]byte, error) {
		return func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			mut(ml)
			return ml, vkey, acks, old, nil
		}
	}
	probes := []probe{
		{"broken prev chain (tree consistent)", withEntries(func(i int, e *entryV1) {
			if i == 300 {
				e.Prev[5] ^= 1
			}
		}), "entry 300: prev"},
		{"wrong index field", withEntries(func(i int, e *entryV1) {
			if i == 5 {
				e.Index = 6
			}
		}), "entry 5: index field"},
		{"entry 0 with non-zero prev", withEntries(func(i int, e *entryV1) {
			if i == 0 {
				e.Prev[31] = 1
			}
		}), "entry 0: prev"},
		{"non-ASCII kind", withEntries(func(i int, e *entryV1) {
			if i == 17 {
				e.Kind = "caf\xc3\xa9"
			}
		}), "not printable ASCII"},
		{"bit flip in a full level-0 tile", withServer(func(ml *memLog) { ml.files["tile/0/001"][100] ^= 1 }), "tile tile/0/001 hashes to"},
		{"bit flip in the partial level-0 tile", withServer(func(ml *memLog) { ml.files["tile/0/002.p/188"][100] ^= 1 }), "root recomputed from the tiles"},
		{"bit flip in a level-1 tile", withServer(func(ml *memLog) { ml.files["tile/1/000.p/2"][0] ^= 1 }), "root recomputed from the tiles"},
		{"truncated partial tile", withServer(func(ml *memLog) {
			ml.files["tile/0/002.p/188"] = ml.files["tile/0/002.p/188"][:187*32]
		}), "want 6016"},
		{"bit flip in an entry bundle", withServer(func(ml *memLog) { ml.files["tile/entries/001"][50] ^= 1 }), "leaf hash"},
		{"trailing bytes in an entry bundle", withServer(func(ml *memLog) {
			ml.files["tile/entries/000"] = append(ml.files["tile/entries/000"], 0, 0)
		}), "trailing bytes"},
		{"missing entry bundle", withServer(func(ml *memLog) { delete(ml.files, "tile/entries/002.p/188") }), "status 404"},
		{"checkpoint signed by another key", withServer(func(ml *memLog) {
			other, _ := newSynthLog(0, nil)
			ml.checkpoint = other.signRoot(n, rootOf(leafHashes(good.entries)))
		}), "does not verify"},
		{"signed checkpoint with a wrong root", withServer(func(ml *memLog) {
			ml.checkpoint = good.signRoot(n, flipHash(rootOf(leafHashes(good.entries))))
		}), "root recomputed from the tiles"},
		{"checkpoint size one short of the tiles", withServer(func(ml *memLog) {
			ml.checkpoint = good.signRoot(n-1, rootOf(leafHashes(good.entries)))
		}), "tile/0/002.p/187"},
		{"inclusion proof with a flipped element", withServer(func(ml *memLog) {
			ml.mutateInclusion = func(a *inclusionJSON) {
				if a.Index == 123 {
					a.Proof[2] = flipHash(a.Proof[2])
				}
			}
		}), "rejected by tlog.CheckRecord"},
		{"inclusion answer with a different leaf_hash", withServer(func(ml *memLog) {
			ml.mutateInclusion = func(a *inclusionJSON) {
				if a.Index == 42 {
					a.LeafHash = flipHash(a.LeafHash)
				}
			}
		}), "leaf_hash"},
		{"inclusion answer for another index", withServer(func(ml *memLog) {
			ml.mutateInclusion = func(a *inclusionJSON) {
				if a.Index == 43 {
					a.Index = 44
				}
			}
		}), "answer has index 44"},
		{"consistency proof with a flipped element", withServer(func(ml *memLog) {
			ml.mutateConsistency = func(a *consistencyJSON) {
				if a.First == 300 && len(a.Proof) > 0 {
					a.Proof[0] = flipHash(a.Proof[0])
				}
			}
		}), "rejected by tlog.CheckTree"},
		{"ack with a wrong leaf hash", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			acks[10].LeafHash = flipHash(acks[10].LeafHash)
			return ml, vkey, acks, old, nil
		}, "the tiles hold"},
		{"ack beyond the checkpoint", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			acks = append(acks, ack{Index: n, LeafHash: acks[0].LeafHash, EventID: "late"})
			return ml, vkey, acks, old, nil
		}, "not covered by the checkpoint"},
		{"same event acknowledged at two indexes", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			dup := acks[11]
			dup.EventID = acks[10].EventID
			acks = append(acks, dup)
			return ml, vkey, acks, old, nil
		}, "idempotence broken"},
		{"forked old checkpoint", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			fork, _ := newSynthLog(300, func(i int, e *entryV1) { e.Commitment[0] ^= 0xff })
			fork.skey, fork.vkey = good.skey, good.vkey
			return ml, vkey, acks, append(old, fork.sign(300)), nil
		}, "a fork"},
		{"old checkpoint larger than the current one", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			bigger, _ := newSynthLog(n+1, nil)
			bigger.skey, bigger.vkey = good.skey, good.vkey
			return ml, vkey, acks, append(old, bigger.sign(n+1)), nil
		}, "rolled back"},
		{"old checkpoint from another log", func() (*memLog, string, []ack, [][]byte, error) {
			ml, vkey, acks, old := std(good)
			other, _ := newSynthLog(10, nil)
			return ml, vkey, acks, append(old, other.sign(10)), nil
		}, "old checkpoint #3"},
		{"tile beyond the tree served", withServer(func(ml *memLog) { ml.files["tile/0/002"] = make([]byte, 8192) }), "want 404"},
		{"bad proof parameters answered 200", withServer(func(ml *memLog) { ml.lenient = true }), "want 4xx"},
	}
	for _, p := range probes {
		ml, vkey, acks, old, err := p.setup()
		if err != nil {
			return err
		}
		_, err = ml.check(vkey, acks, old, "greffe-v1")
		if err == nil {
			return fmt.Errorf("probe %q: the checker ACCEPTED a broken log", p.name)
		}
		if !strings.Contains(err.Error(), p.wantErr) {
			return fmt.Errorf("probe %q: failed for the wrong reason: %v (want %q)", p.name, err, p.wantErr)
		}
		s.okf("probe rejected: %-45s -> %s", p.name, firstLine(err.Error()))
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// memLog is an in-process log server speaking the contract's read API:
// /checkpoint, C2SP tiles and bundles, and the two proof endpoints
// (proofs from tlog.ProveRecord/ProveTree over the stored hashes).
type memLog struct {
	size       int64 // tree size proofs are served for
	entries    [][]byte
	stored     []tlog.Hash
	files      map[string][]byte // "tile/…" → body
	checkpoint []byte
	later      []byte // if set, served from the second GET /checkpoint on
	lenient    bool   // answer bad parameters 200 (for a probe)

	mu        sync.Mutex
	cpFetches int

	mutateInclusion   func(*inclusionJSON)
	mutateConsistency func(*consistencyJSON)
}

type inclusionJSON struct {
	Index    int64       `json:"index"`
	TreeSize int64       `json:"tree_size"`
	LeafHash tlog.Hash   `json:"leaf_hash"`
	Proof    []tlog.Hash `json:"proof"`
}

type consistencyJSON struct {
	First  int64       `json:"first"`
	Second int64       `json:"second"`
	Proof  []tlog.Hash `json:"proof"`
}

func newMemLog(entries [][]byte) *memLog {
	ml := &memLog{size: int64(len(entries)), entries: entries}
	r := ml.hashReader()
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			panic(err)
		}
		ml.stored = append(ml.stored, hs...)
	}
	ml.files = ml.tileFiles()
	return ml
}

func (ml *memLog) hashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(ml.stored)) {
				return nil, fmt.Errorf("stored hash %d not available", x)
			}
			out[i] = ml.stored[x]
		}
		return out, nil
	})
}

// tileFiles generates every C2SP tile and entry bundle of the whole log.
func (ml *memLog) tileFiles() map[string][]byte {
	n := int64(len(ml.entries))
	files := map[string][]byte{}
	r := ml.hashReader()
	for L := 0; n>>uint(tileHeight*L) > 0; L++ {
		count := n >> uint(tileHeight*L)
		for k := int64(0); k*tileWidth < count; k++ {
			t := tileAt(L, k, n)
			data, err := tlog.ReadTileData(t, r)
			if err != nil {
				panic(err)
			}
			files[c2spTilePath(t)] = data
		}
	}
	for k := int64(0); k*tileWidth < n; k++ {
		t := tileAt(-1, k, n)
		var b []byte
		for _, e := range ml.entries[k*tileWidth : k*tileWidth+int64(t.W)] {
			b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
			b = append(b, e...)
		}
		files[c2spTilePath(t)] = b
	}
	return files
}

// check runs the checker against ml served over HTTP.
func (ml *memLog) check(vkey string, acks []ack, old [][]byte, format string) (*report, error) {
	srv := httptest.NewServer(ml)
	defer srv.Close()
	return run(config{
		URL: srv.URL, VerifierKey: vkey, Acks: acks, OldCheckpoints: old, EntryFormat: format,
		Seed: 1, Parallel: 8, HashSample: 32, RandomProofs: 8, Client: srv.Client(),
	})
}

func (ml *memLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		if ml.lenient {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	reply := func(v interface{}) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	num := func(name string) (int64, bool) {
		s := r.URL.Query().Get(name)
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil && v >= 0 && s == strconv.FormatInt(v, 10)
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case p == "checkpoint":
		ml.mu.Lock()
		ml.cpFetches++
		cp := ml.checkpoint
		if ml.later != nil && ml.cpFetches > 1 {
			cp = ml.later
		}
		ml.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(cp)
	case strings.HasPrefix(p, "tile/"):
		data, ok := ml.files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	case p == "v1/proofs/inclusion":
		size, ok := num("tree_size")
		if !ok || size < 1 || size > ml.size {
			fail(http.StatusBadRequest, "bad tree_size")
			return
		}
		var index int64
		if lh := r.URL.Query().Get("leaf_hash"); lh != "" {
			b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(lh, "="))
			if err != nil || len(b) != tlog.HashSize {
				fail(http.StatusBadRequest, "bad leaf_hash")
				return
			}
			index = -1
			for i := int64(0); i < size; i++ {
				if bytes.Equal(ml.stored[tlog.StoredHashIndex(0, i)][:], b) {
					index = i
					break
				}
			}
			if index < 0 {
				fail(http.StatusNotFound, "leaf_hash not in tree")
				return
			}
		} else if index, ok = num("index"); !ok || index >= size {
			fail(http.StatusBadRequest, "bad index")
			return
		}
		proof, err := tlog.ProveRecord(size, index, ml.hashReader())
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		a := inclusionJSON{Index: index, TreeSize: size, LeafHash: ml.stored[tlog.StoredHashIndex(0, index)], Proof: append([]tlog.Hash{}, proof...)}
		if ml.mutateInclusion != nil {
			ml.mutateInclusion(&a)
		}
		reply(a)
	case p == "v1/proofs/consistency":
		first, ok1 := num("first")
		second, ok2 := num("second")
		if !ok1 || !ok2 || first < 1 || first > second || second > ml.size {
			fail(http.StatusBadRequest, "bad first/second")
			return
		}
		proof, err := tlog.ProveTree(second, first, ml.hashReader())
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		a := consistencyJSON{First: first, Second: second, Proof: append([]tlog.Hash{}, proof...)}
		if ml.mutateConsistency != nil {
			ml.mutateConsistency(&a)
		}
		reply(a)
	default:
		http.NotFound(w, r)
	}
}

// staticFiles serves a map of tile files.
func staticFiles(files map[string][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
}

func leafHashes(entries [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		out[i] = tlog.RecordHash(e)
	}
	return out
}

// rootOf is the RFC 9162 §2.1.1 MTH over leaf hashes, written out
// recursively (independent of tlog's storage indexing).
func rootOf(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		return emptyRoot
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

func equalHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
