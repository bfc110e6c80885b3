// libFuzzer harness (ops/fuzz.sh): C2SP signed notes, checkpoints and their verification.
import FuzzSupport
import GreffeCore

/// The key of /work/shared/testvectors/rfc9162-seed1.json and the checkpoint bodies it signed there
/// (the seed corpus holds those notes): no mutation may verify with any other body.
let verifier = try! NoteVerifier(verifierKey: "example.com/vectors+8bdba15c+AW8VgXCbt7HvAw0hDbGOOwuhx3b7pl2M2q0FQVFC0Yn4")
let signedBodies: Set<[UInt8]> = Set([
    "example.com/vectors\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "example.com/vectors\n1\nEBq9j/yZKB7cSegmh59cp48RNl0g4mjXUWMABisy5Gs=\n",
    "example.com/vectors\n2\nHGSLEjZqBYDzlHvy5+ppjBlXl+fGqsa+an8oxz6Wmuw=\n",
    "example.com/vectors\n300\n4fw3Bis4RcwDo/dXRfWyM0+Ya39V49Qnl26ox2uKxv8=\n",
    "example.com/vectors\n1000\nupTQsKq3HrVvm6jKsdTkVGijgKfOxZitgqwzjvM702Y=\n",
    "example.com/vectors\n4097\nUmWrShkZ9ORLxtnq8RFNlnL/RzhMYgPJypmb52ucCtU=\nextension line: parsers must keep or ignore it\n",
    "example.com/vectors\n65537\nKlSXrvzgFou+/GJTunI54JI78L35xdZZnqoIohLrkwc=\n",
].map { Array($0.utf8) })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let text = String(decoding: bytes, as: UTF8.self)
    let utf8 = Array(text.utf8)
    // A note parses only from its one spelling; compared as bytes (Swift's String == is canonical equivalence).
    if let note = try? SignedNote(parsing: text) {
        require(Array(note.formatted.utf8) == utf8, "note re-formats to other bytes")
        require(!note.signatures.isEmpty && note.signatures.count <= SignedNote.maxSignatures, "signature count")
        let again = try? SignedNote(parsing: note.formatted)
        require(again == note, "formatted note does not parse back to itself")
    }
    if let checkpoint = try? Checkpoint(parsing: text) {
        require(Array(checkpoint.text.utf8) == utf8, "checkpoint re-encodes to other bytes")
    }
    if let verified = try? CheckpointVerifier.verify(note: text, verifier: verifier) {
        require(signedBodies.contains(Array(verified.checkpoint.text.utf8)), "a body the key never signed verified: \(verified.checkpoint.text)")
    }
    return 0
}

@_cdecl("FuzzNote_main")
func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
