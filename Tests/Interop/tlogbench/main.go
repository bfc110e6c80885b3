// Command tlogbench times golang.org/x/mod/sumdb/tlog.CheckRecord (Russ
// Cox's reference verifier) on the inclusion proofs that `greffe bench
// verify` checks with its batch verifier, so both figures come from the
// same proofs on the same machine.
//
// Input (written by `greffe bench verify`), little-endian:
//
//	"GRFTLOG1" · tree size u64 · root [32] · count u64 ·
//	count × (leaf index u64 · leaf hash [32] · n u8 · n × [32])
//
// Output: one JSON line per thread count,
//
//	{"threads":1,"proofs":1000000,"seconds":8.1,"rate":123456.7,"failures":0}
//
// Every proof must verify (failures must be 0: the proofs are valid).
//
// Build (GOPATH mode, Debian's golang-golang-x-mod-dev, no network):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogbench ./Tests/Interop/tlogbench
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

type claim struct {
	index int64
	leaf  tlog.Hash
	proof tlog.RecordProof
}

func load(path string) (int64, tlog.Hash, []claim, error) {
	var root tlog.Hash
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, root, nil, err
	}
	if len(data) < 56 || string(data[:8]) != "GRFTLOG1" {
		return 0, root, nil, fmt.Errorf("%s: not a GRFTLOG1 proof file", path)
	}
	size := int64(binary.LittleEndian.Uint64(data[8:16]))
	copy(root[:], data[16:48])
	count := binary.LittleEndian.Uint64(data[48:56])
	claims := make([]claim, 0, count)
	// One backing array for every proof: no per-proof allocation to time or collect.
	var total int
	for off, i := 56, uint64(0); i < count; i++ {
		if off+41 > len(data) {
			return 0, root, nil, fmt.Errorf("proof %d is cut short", i)
		}
		n := int(data[off+40])
		total += n
		off += 41 + 32*n
	}
	backing := make([]tlog.Hash, total)
	off := 56
	for i := uint64(0); i < count; i++ {
		var c claim
		c.index = int64(binary.LittleEndian.Uint64(data[off : off+8]))
		copy(c.leaf[:], data[off+8:off+40])
		n := int(data[off+40])
		off += 41
		if off+32*n > len(data) {
			return 0, root, nil, fmt.Errorf("proof %d is cut short", i)
		}
		c.proof = backing[:n:n]
		backing = backing[n:]
		for j := 0; j < n; j++ {
			copy(c.proof[j][:], data[off:off+32])
			off += 32
		}
		claims = append(claims, c)
	}
	return size, root, claims, nil
}

type result struct {
	Threads  int     `json:"threads"`
	Proofs   int     `json:"proofs"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	Failures int     `json:"failures"`
}

func run(size int64, root tlog.Hash, claims []claim, threads int) result {
	var wg sync.WaitGroup
	failures := make([]int, threads)
	chunk := (len(claims) + threads - 1) / threads
	start := time.Now()
	for t := 0; t < threads; t++ {
		lo, hi := t*chunk, (t+1)*chunk
		if hi > len(claims) {
			hi = len(claims)
		}
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(t int, part []claim) {
			defer wg.Done()
			for i := range part {
				if tlog.CheckRecord(part[i].proof, size, root, part[i].index, part[i].leaf) != nil {
					failures[t]++
				}
			}
		}(t, claims[lo:hi])
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	r := result{Threads: threads, Proofs: len(claims), Seconds: seconds, Rate: float64(len(claims)) / seconds}
	for _, f := range failures {
		r.Failures += f
	}
	return r
}

func main() {
	threads := flag.Int("threads", 0, "also time with this many goroutines (0: one per CPU; 1: only the single-thread run)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tlogbench [-threads N] PROOFS.bin")
		os.Exit(2)
	}
	size, root, claims, err := load(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogbench:", err)
		os.Exit(1)
	}
	counts := []int{1}
	n := *threads
	if n == 0 {
		n = runtime.NumCPU()
	}
	if n > 1 {
		counts = append(counts, n)
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	for _, t := range counts {
		r := run(size, root, claims, t)
		out.Encode(r)
		failed = failed || r.Failures > 0
	}
	if failed {
		os.Exit(1)
	}
}
