// libFuzzer harness (ops/fuzz.sh): ledger entries and entry bundles.
import FuzzSupport
import GreffeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    // An entry decodes only from its one canonical encoding.
    if let entry = try? LedgerEntry(decoding: bytes) {
        require(entry.encoded == bytes, "decoded entry re-encodes to other bytes")
        require(LedgerEntry.isValidKind(entry.kind), "decoded entry has an invalid kind")
        require(entry.leafHash == MerkleHash.leaf(bytes), "leaf hash is not over the entry's bytes")
    }
    // An entry bundle (tile/entries/N) is exactly its length-prefixed entries.
    if let entries = EntryBundle.decode(bytes) {
        require(EntryBundle.encode(entries) == bytes, "entry bundle re-encodes to other bytes")
        for entry in entries {
            if let decoded = try? LedgerEntry(decoding: entry) { require(decoded.encoded == entry, "bundled entry re-encodes to other bytes") }
        }
    }
    return 0
}

@_cdecl("FuzzEntry_main")
func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
