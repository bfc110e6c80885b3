// The offline verification target; see BatchVerifier.swift.
