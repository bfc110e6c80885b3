import Foundation
import GreffeCore
import GreffeVerify
import Testing

/// `greffe report dsa-sor`'s mapping: every moderation outcome and takedown
/// action of `Schemas/events/examples` becomes a statement valid against
/// `Schemas/dsa-sor.schema.json`, or is refused with the reason and the
/// missing fields; the schema itself refuses broken statements.
@Suite("StatementOfReasons")
struct StatementOfReasonsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load(_ path: String) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: root.appendingPathComponent(path))))
    }

    static let validator: JSONSchemaValidator = {
        let schema = try! load("Schemas/dsa-sor.schema.json")
        return try! JSONSchemaValidator(schema: schema)
    }()

    /// The valid examples of `kind`, by file name.
    static func examples(_ kind: String) throws -> [(String, JSONValue)] {
        let directory = root.appendingPathComponent("Schemas/events/examples/\(kind)")
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("valid-") }.sorted().map {
            ($0, try load("Schemas/events/examples/\(kind)/\($0)"))
        }
    }

    /// What a platform adds to an event that has no statement_of_reasons.
    static let supplement: JSONValue = [
        "decision_ground": "illegal_content", "legal_ground": "Code pénal, article 226-8-1",
        "facts": "Reported by the person depicted; reviewed by a moderator.", "explanation": "A sexual deepfake of an identifiable person, published without consent.",
        "content_date": "2026-03-14",
        "automated_detection": false, "automated_decision": "not_automated",
    ]

    static let leafHash = MerkleHash.leaf([0x01, 0x02])
    static let victim = StatementOfReasons.ReportFacts(reporterType: "victim", category: "non_consensual_intimate_imagery")

    static func make(_ body: JSONValue, index: UInt64 = 812_004) -> StatementOfReasons.Outcome {
        StatementOfReasons.make(
            kind: body["kind"]!.stringValue!, body: body, index: index, leafHash: leafHash, report: body["report_id"] == nil ? nil : victim)
    }

    @Test func everyOutcomeInTheExamplesIsAValidStatementOrRefusedWithItsReason() throws {
        var outcomes: Set<String> = []
        for kind in ["moderation.decision", "takedown.executed"] {
            for (name, example) in try Self.examples(kind) {
                let outcome = example["decision"]?.stringValue ?? example["action"]!.stringValue!
                outcomes.insert("\(kind) \(outcome)")
                var body = example.objectValue!
                if body["statement_of_reasons"] == nil {
                    // As sent: refused, naming exactly what a platform must add (or why there is no statement).
                    guard case .notExported(let reason, let missing) = Self.make(.object(body)) else {
                        Issue.record("\(name): exported without the fields the Database requires")
                        continue
                    }
                    if outcome == "no_action" {
                        #expect(reason.contains("Art. 17") && missing.isEmpty, "\(name)")
                        continue
                    }
                    #expect(Set(missing).isSuperset(of: ["decision_ground", "content_date", "automated_detection", "automated_decision"]), "\(name): \(missing)")
                    body["statement_of_reasons"] = Self.supplement
                }
                guard case .statement(let statement) = Self.make(.object(body)) else {
                    Issue.record("\(name): not exported: \(Self.make(.object(body)))")
                    continue
                }
                let violations = Self.validator.violations(of: statement)
                #expect(violations.isEmpty, "\(name): \(violations)")
                #expect(statement["puid"]?.stringValue == "greffe-812004-\(Self.leafHash.hex)")
                #expect(statement["application_date"]?.stringValue == String(example["occurred_at"]!.stringValue!.prefix(10)))
            }
        }
        // Every outcome the schemas allow has an example.
        #expect(
            outcomes == [
                "moderation.decision remove", "moderation.decision restrict", "moderation.decision no_action", "takedown.executed removed",
                "takedown.executed blocked_hash",
            ], "\(outcomes)")
    }

    @Test func fieldsComeFromTheEventAndItsReport() throws {
        var body = try Self.load("Schemas/events/examples/moderation.decision/valid-remove-after-report.json").objectValue!
        var withoutExplanation = Self.supplement.objectValue!
        withoutExplanation["explanation"] = nil  // then the event's reason explains
        body["statement_of_reasons"] = .object(withoutExplanation)
        guard case .statement(let statement) = Self.make(.object(body)) else { Issue.record("not exported"); return }
        #expect(statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"])
        #expect(statement["category"] == "STATEMENT_CATEGORY_CYBER_VIOLENCE")
        #expect(statement["category_specification"] == ["KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"])
        #expect(statement["source_type"] == "SOURCE_ARTICLE_16")
        #expect(statement["illegal_content_explanation"]?.stringValue == body["reason"]?.stringValue)
        #expect(statement["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT")
        // A trusted flagger's report; no report at all.
        let flagged = StatementOfReasons.make(
            kind: "moderation.decision", body: .object(body), index: 1, leafHash: Self.leafHash,
            report: .init(reporterType: "trusted_flagger", category: "csam"))
        guard case .statement(let second) = flagged else { Issue.record("not exported"); return }
        #expect(second["source_type"] == "SOURCE_TRUSTED_FLAGGER" && second["category"] == "STATEMENT_CATEGORY_PROTECTION_OF_MINORS")
        body["report_id"] = nil
        guard case .notExported(_, let missing) = Self.make(.object(body)) else { Issue.record("exported without a category"); return }
        #expect(missing == ["category"])
        // restrict without saying which restriction
        body["decision"] = "restrict"
        var supplement = withoutExplanation
        supplement["category"] = "STATEMENT_CATEGORY_CYBER_VIOLENCE"
        body["statement_of_reasons"] = .object(supplement)
        guard case .notExported(_, let which) = Self.make(.object(body)) else { Issue.record("restrict exported without a visibility"); return }
        #expect(which == ["visibility"])
    }

    @Test func theSchemaRefusesBrokenStatements() throws {
        var body = try Self.load("Schemas/events/examples/moderation.decision/valid-restrict-with-statement-of-reasons.json").objectValue!
        body["report_id"] = nil
        guard case .statement(let statement) = Self.make(.object(body)) else { Issue.record("not exported"); return }
        #expect(Self.validator.violations(of: statement).isEmpty)
        func refused(_ change: (inout JSONObject) -> Void) -> Bool {
            var copy = statement.objectValue!
            change(&copy)
            return !Self.validator.violations(of: .object(copy)).isEmpty
        }
        #expect(refused { $0["puid"] = nil })
        #expect(refused { $0["puid"] = "greffe 1" })
        #expect(refused { $0["decision_visibility"] = nil })
        #expect(refused { $0["category"] = "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT" })  // the schema of before July 2025
        #expect(refused { $0["incompatible_content_ground"] = nil })
        #expect(refused { $0["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT" })  // without its legal ground
        #expect(refused { $0["application_date"] = "2026-03-21T08:12:00Z" })
        #expect(refused { $0["territorial_scope"] = ["UK"] })
        #expect(refused { $0["greffe_index"] = 3 })
    }
}
