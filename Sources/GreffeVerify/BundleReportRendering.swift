public import GreffeCore

/// The three faces of a verification report: plain text for people, JSON
/// for machines, HTML to print.
public enum BundleReportRendering {
    public static func text(_ report: BundleReport, file: String) -> String {
        var lines: [String] = [
            "Verification of \(file)", report.keysGiven == 1 ? "Checked against the verifier key \(report.keyName)" : "Checked against the verifier keys \(report.keyName)", "",
        ]
        if let origin = report.origin, let size = report.checkpointSize, let root = report.checkpointRoot {
            lines.append("The ledger \(origin) signed its state of \(BundleVerifier.grouped(size)) entries (root \(root)); the signature holds.")
            // One key given: the line above names it (and the browser verifier's report is the same, line for line).
            if report.keysGiven > 1 { lines.append("The checkpoint is signed by the key(s) \(report.signedBy.joined(separator: ", ")).") }
        }
        if let check = report.cosignatures { lines.append(witnessSentence(check)) }
        for event in report.events {
            lines.append("")
            let verdict = event.verified ? "VERIFIED" : "NOT VERIFIED"
            lines.append("\(event.sentence); the ledger's signed state includes it: \(verdict)")
        }
        if let summary = report.summary {
            lines.append("")
            lines += summaryLines(summary, report: report)
        }
        for hold in report.summary?.holds ?? report.holds {
            lines.append("")
            lines.append(hold + ".")
        }
        if report.prevLinksChecked > 0 {
            lines.append("")
            lines.append("Hash-chain links between adjacent entries checked: \(report.prevLinksChecked).")
        }
        if report.earlierCheckpointsChecked > 0 {
            lines.append("Earlier signed states shown to be prefixes of this one: \(report.earlierCheckpointsChecked).")
        }
        if !report.timestamps.isEmpty { lines.append("") }
        for timestamp in report.timestamps { lines.append(timestamp.sentence) }
        if let gap = report.timestampGap {
            lines.append("")
            lines.append("NO TRUSTED TIME: \(gap).")
        }
        for note in report.notes { lines.append("Note: \(note)") }
        lines.append("")
        if report.verified {
            lines.append("RESULT: VERIFIED — every signature, commitment, inclusion proof and link in this bundle holds.")
            if report.unprovenErasures > 0 { lines.append(unprovenSentence(report.unprovenErasures)) }
            if report.timestamps.contains(where: { $0.status == .notChecked }) {
                lines.append("The bundle's RFC 3161 timestamp token(s) were NOT checked: give --tsa-cert to check the time they claim.")
            }
        } else {
            lines.append("RESULT: NOT VERIFIED — \(report.failures.count + report.failuresNotListed) problem(s):")
            for failure in report.failures { lines.append("  - \(failure.location) [\(failure.code.rawValue)]: \(failure.message)") }
            if report.failuresNotListed > 0 { lines.append("  - and \(report.failuresNotListed) more (--events-csv lists each event's problems)") }
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ report: BundleReport) -> JSONValue {
        var object: JSONObject = [
            "verified": .bool(report.verified),
            "verifier_key": .string(report.keyName),
            "signed_by": .array(report.signedBy.map { .string($0) }),
            "events": .array(
                report.events.map {
                    ["index": .number(Double($0.index)), "event_id": .string($0.eventID), "verified": .bool($0.verified), "summary": .string($0.sentence),
                     "body_erased": .bool($0.bodyErased), "erasure": $0.erasure.map { .string($0.rawValue) } ?? .null,
                     "erasure_legal_reference": $0.erasureLegalReference.map { .string($0) } ?? .null,
                     "erasure_entry_index": $0.erasureEntryIndex.map { .number(Double($0)) } ?? .null,
                     "appended_by": $0.appendedBy.map { .string($0) } ?? .null]
                }),
            "failures": .array(report.failures.map { ["code": .string($0.code.rawValue), "location": .string($0.location), "message": .string($0.message)] }),
            "prev_links_checked": .number(Double(report.prevLinksChecked)),
            "unproven_erasures": .number(Double(report.unprovenErasures)),
            "earlier_checkpoints_checked": .number(Double(report.earlierCheckpointsChecked)),
            "notes": .array(report.notes.map { .string($0) }),
        ]
        if !report.timestamps.isEmpty {
            object["timestamps"] = .array(
                report.timestamps.map { stamp in
                    var item: JSONObject = [
                        "tree_size": .number(Double(stamp.treeSize)), "status": .string(stamp.status.rawValue), "covers_events": .bool(stamp.coversEvents),
                        "summary": .string(stamp.sentence),
                    ]
                    if let genTime = stamp.genTime { item["gen_time"] = .string(genTime) }
                    if let attestedBy = stamp.attestedBy { item["attested_by"] = .string(attestedBy) }
                    if let policy = stamp.policy { item["policy"] = .string(policy) }
                    if !stamp.renewals.isEmpty {
                        item["renewals"] = .array(
                            stamp.renewals.map { renewal in
                                var entry: JSONObject = [:]
                                if let genTime = renewal.genTime { entry["gen_time"] = .string(genTime) }
                                if let attestedBy = renewal.attestedBy { entry["attested_by"] = .string(attestedBy) }
                                return .object(entry)
                            })
                    }
                    if let expiry = stamp.lastCertificateExpiry {
                        item["last_certificate_expiry"] = .string(expiry)
                        item["last_certificate_expired"] = .bool(stamp.lastCertificateExpired)
                    }
                    return .object(item)
                })
        }
        if let gap = report.timestampGap { object["timestamp_gap"] = .string(gap) }
        object["event_count"] = .number(Double(report.eventCount))
        if let summary = report.summary { object["summary"] = summaryJSON(summary) }
        let holds = report.summary?.holds ?? report.holds
        if !holds.isEmpty { object["holds"] = .array(holds.map { .string($0) }) }
        if report.failuresNotListed > 0 { object["failures_not_listed"] = .number(Double(report.failuresNotListed)) }
        if let origin = report.origin { object["origin"] = .string(origin) }
        if let size = report.checkpointSize { object["checkpoint_size"] = .number(Double(size)) }
        if let root = report.checkpointRoot { object["checkpoint_root"] = .string(root.base64) }
        if let check = report.cosignatures { object["witnesses"] = witnessJSON(check) }
        return .object(object)
    }

    /// A large bundle in a few sentences: what it holds, by kind, outcome and tier, and over what time.
    static func summaryLines(_ summary: BundleSummary, report: BundleReport) -> [String] {
        func counts(_ table: [String: Int]) -> String {
            table.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key): \(BundleVerifier.grouped(UInt64($0.value)))" }.joined(separator: ", ")
        }
        var lines = ["The bundle holds \(BundleVerifier.grouped(UInt64(summary.events))) events (one line each: --events-csv FILE)."]
        if let from = summary.recordedFrom, let to = summary.recordedTo {
            lines.append("Greffe recorded them from \(RFC3339Time.format(from)) to \(RFC3339Time.format(to)).")
        }
        lines.append("By kind: \(counts(summary.byKind)).")
        if !summary.byOutcome.isEmpty { lines.append("By decision outcome: \(counts(summary.byOutcome)).") }
        if !summary.byTier.isEmpty { lines.append("By subscription tier: \(counts(summary.byTier)).") }
        var content = "Content shown for \(BundleVerifier.grouped(UInt64(summary.bodiesShown)))"
        if summary.erasuresProven > 0 { content += "; erased under a proven legal order: \(BundleVerifier.grouped(UInt64(summary.erasuresProven)))" }
        if summary.erasuresUnproven > 0 { content += "; erasure claimed but unproven: \(BundleVerifier.grouped(UInt64(summary.erasuresUnproven)))" }
        if summary.bodiesWithheld > 0 { content += "; withheld: \(BundleVerifier.grouped(UInt64(summary.bodiesWithheld)))" }
        lines.append(content + ".")
        lines.append(
            "Each event's own checks (entry, commitment, content) held for \(BundleVerifier.grouped(UInt64(summary.eventsChecked))) of them; "
                + "their inclusion in the signed state is proved for the bundle as a whole: "
                + (report.failures.contains { $0.code == .inclusionProof || $0.code == .duplicateEvent } ? "NOT VERIFIED (below)." : "see the result."))
        return lines
    }

    static func summaryJSON(_ summary: BundleSummary) -> JSONValue {
        func table(_ counts: [String: Int]) -> JSONValue { .object(JSONObject(counts.map { ($0.key, JSONValue.number(Double($0.value))) })) }
        var object: JSONObject = [
            "events": .number(Double(summary.events)), "by_kind": table(summary.byKind), "by_outcome": table(summary.byOutcome),
            "by_tier": table(summary.byTier), "bodies_shown": .number(Double(summary.bodiesShown)),
            "erasures_proven": .number(Double(summary.erasuresProven)), "erasures_unproven": .number(Double(summary.erasuresUnproven)),
            "bodies_withheld": .number(Double(summary.bodiesWithheld)), "events_own_checks_held": .number(Double(summary.eventsChecked)),
        ]
        if let from = summary.recordedFrom, let to = summary.recordedTo {
            object["recorded_from"] = .string(RFC3339Time.format(from))
            object["recorded_to"] = .string(RFC3339Time.format(to))
        }
        return .object(object)
    }

    /// After a VERIFIED result: what the verdict does not cover.
    static func unprovenSentence(_ count: Int) -> String {
        "UNPROVEN ERASURE: \(count) event(s) have no content, and this greffe-bundle/v1 bundle carries no proof that a legal order erased it."
    }

    /// Which witnesses vouched for the checkpoint, and when (tlog-cosignature: "as of this time, this is the largest tree").
    static func witnessSentence(_ check: CosignatureCheck) -> String {
        var sentence: String
        if check.cosigned.isEmpty {
            sentence = "No given witness cosigned this state"
        } else {
            sentence = "Independent witnesses cosigned this state, each stating it had checked it extends every state it saw before: "
            sentence += check.cosigned.map { "\($0.witness) at \($0.time)" }.joined(separator: ", ")
        }
        sentence += " (\(check.cosigned.count) valid, \(check.quorum) required"
        if !check.missing.isEmpty { sentence += "; missing: \(check.missing.joined(separator: ", "))" }
        if !check.invalid.isEmpty { sentence += "; invalid: \(check.invalid.map(\.witness).joined(separator: ", "))" }
        return sentence + ")."
    }

    static func witnessJSON(_ check: CosignatureCheck) -> JSONValue {
        [
            "quorum": .number(Double(check.quorum)),
            "quorum_met": .bool(check.meetsQuorum),
            "cosigned": .array(check.cosigned.map { ["witness": .string($0.witness), "timestamp": .number(Double($0.timestamp)), "time": .string($0.time)] }),
            "missing": .array(check.missing.map { .string($0) }),
            "invalid": .array(check.invalid.map { ["witness": .string($0.witness), "reason": .string($0.reason)] }),
        ]
    }

    public static func html(_ report: BundleReport, file: String) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var body = "<h1>Evidence verification</h1><p>File: <code>\(escape(file))</code><br>Verifier key: <code>\(escape(report.keyName))</code></p>"
        if let origin = report.origin, let size = report.checkpointSize {
            body += "<p>The ledger <strong>\(escape(origin))</strong> signed its state of \(BundleVerifier.grouped(size)) entries; the signature holds.</p>"
        }
        if let check = report.cosignatures { body += "<p>\(escape(witnessSentence(check)))</p>" }
        body += "<ol>"
        for event in report.events {
            body += "<li class=\"\(event.verified ? "ok" : "bad")\">\(escape(event.sentence)): <strong>\(event.verified ? "VERIFIED" : "NOT VERIFIED")</strong></li>"
        }
        body += "</ol>"
        if let summary = report.summary {
            body += summaryLines(summary, report: report).map { "<p>\(escape($0))</p>" }.joined()
        }
        for hold in report.summary?.holds ?? report.holds { body += "<p>\(escape(hold)).</p>" }
        for timestamp in report.timestamps {
            body += "<p class=\"\(timestamp.status == .verified ? "ok" : "bad")\">\(escape(timestamp.sentence))</p>"
        }
        if let gap = report.timestampGap { body += "<p class=\"bad\">No trusted time: \(escape(gap)).</p>" }
        if report.verified {
            body += "<p class=\"ok\"><strong>RESULT: VERIFIED</strong> — every signature, commitment, inclusion proof and link holds.</p>"
            if report.unprovenErasures > 0 { body += "<p class=\"bad\">\(escape(unprovenSentence(report.unprovenErasures)))</p>" }
        } else {
            body += "<p class=\"bad\"><strong>RESULT: NOT VERIFIED</strong></p><ul>"
            for failure in report.failures { body += "<li>\(escape(failure.location)): \(escape(failure.message))</li>" }
            body += "</ul>"
        }
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Greffe verification report</title>
            <style>body{font-family:serif;max-width:50em;margin:2em auto;line-height:1.5}.ok{color:#0a5d00}.bad{color:#a00000}code{word-break:break-all}</style>
            </head><body>\(body)</body></html>
            """
    }
}

/// A `greffe-shard-bundle/v1`'s report: each shard's, then the chain that ties them, then one result.
extension BundleReportRendering {
    public static func text(_ report: ShardBundleReport, file: String) -> String {
        var lines: [String] = [
            "Verification of \(file): a bundle across \(report.shards.count) shard(s) of the ledger \(report.baseOrigin)",
            "Checked against the verifier key \(report.keyName), renamed for each shard", "",
        ]
        for (shard, shardReport) in report.shards.enumerated() {
            lines.append("==== Shard \(shard) (\(Shards.origin(base: report.baseOrigin, shard: shard))) ====")
            lines.append(text(shardReport, file: "\(file), shard \(shard)"))
            lines.append("")
        }
        lines.append("==== The chain of shards ====")
        for link in report.links {
            switch link.reason {
            case .restore:
                let lost = link.lostEntries.map { "entries \($0.lowerBound) to \($0.upperBound - 1)" } ?? "entries"
                lines.append(
                    "Shard \(link.shard) seals shard \(link.shard - 1) after a restore: \(lost) of shard \(link.shard - 1) were LOST (\(link.lostBecause ?? "")); events among them may have matched the query, and no bundle can show them.")
            case .size, .period:
                lines.append("Shard \(link.shard) opens by sealing shard \(link.shard - 1) at exactly the checkpoint its bundle is proved against (\(link.reason.rawValue)).")
            }
        }
        if let last = report.shards.last, let size = last.checkpointSize {
            lines.append("The last shard in the file, shard \(report.shards.count - 1), is shown at \(BundleVerifier.grouped(size)) entries; nothing in the file shows what the ledger recorded after it.")
        }
        lines.append("")
        if report.verified {
            lines.append("RESULT: VERIFIED — every shard's bundle holds, and each shard is linked to the one before it.")
        } else {
            let shardProblems = report.shards.enumerated().filter { !$0.element.verified }.map { "shard \($0.offset)" }
            lines.append("RESULT: NOT VERIFIED — \(report.failures.count + shardProblems.count) problem(s):")
            for shard in shardProblems { lines.append("  - \(shard)'s bundle does not verify (see its section)") }
            for failure in report.failures { lines.append("  - \(failure)") }
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ report: ShardBundleReport) -> JSONValue {
        var object: JSONObject = [
            "format": .string(ShardBundleVerifier.format),
            "verified": .bool(report.verified),
            "origin": .string(report.baseOrigin),
            "verifier_key": .string(report.keyName),
            "event_count": .number(Double(report.eventCount)),
            "shards": .array(report.shards.enumerated().map { shard, shardReport in
                var item = json(shardReport).objectValue!
                item["shard"] = .number(Double(shard))
                return .object(item)
            }),
            "links": .array(report.links.map { link in
                var item: JSONObject = ["shard": .number(Double(link.shard)), "reason": .string(link.reason.rawValue)]
                if let lost = link.lostEntries {
                    item["lost_entries"] = ["first_index": .number(Double(lost.lowerBound)), "end_index": .number(Double(lost.upperBound))]
                    item["lost_because"] = .string(link.lostBecause ?? "")
                }
                return .object(item)
            }),
            "failures": .array(report.failures.map { .string($0) }),
        ]
        if let query = report.query { object["query"] = query }
        return .object(object)
    }
}
