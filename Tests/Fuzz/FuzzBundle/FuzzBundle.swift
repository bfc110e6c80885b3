// libFuzzer harness (ops/fuzz.sh): evidence bundles (EvidenceBundle parsing and BundleVerifier).
import FuzzSupport
import GreffeCore
import GreffeVerify

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    guard let bundle = try? EvidenceBundle(parsing: bytes) else { return 0 }
    // What the parser accepts, the encoder writes back to the same bundle.
    let encoded = bundle.json.canonicalBytes()
    let again: EvidenceBundle
    do { again = try EvidenceBundle(parsing: encoded) } catch { fatalError("invariant: re-encoded bundle does not parse: \(error)") }
    require(again == bundle, "re-encoded bundle parses to another bundle")
    // Verification with the bundle's own key (as `greffe verify` does with a key file) never traps;
    // a verified bundle has checked every event it reports.
    if let verifier = try? NoteVerifier(verifierKey: bundle.verifierKey) {
        let report = BundleVerifier.verify(bundle, verifier: verifier)
        if report.verified {
            require(report.events.count == bundle.events.count && report.events.allSatisfy(\.verified), "verified report with unverified events")
            require(report.checkpointSize != nil && report.checkpointRoot != nil, "verified report without a checkpoint")
            // Issue 16: in v2 no null body verifies without a proven erasure.
            require(
                bundle.format == .v1 || report.events.allSatisfy { !$0.bodyErased || $0.erasure == .proven },
                "v2 null body verified without a proven erasure")
        }
    }
    return 0
}

@_cdecl("FuzzBundle_main")
func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
