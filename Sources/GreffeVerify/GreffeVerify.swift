// GreffeVerify: offline verification, pure (no I/O of its own).
//
// - BatchVerifier: many RFC 9162 inclusion proofs against one root, each
//   shared interior node hashed once, on all cores.
// - LogReplay: the audit of a whole log from its C2SP tlog-tiles, through a
//   TileSource (a server, a mirror directory, memory), flat in memory,
//   optionally from an earlier audited checkpoint.
// - AuditFailure: what failed and where (tile path, entry index).
