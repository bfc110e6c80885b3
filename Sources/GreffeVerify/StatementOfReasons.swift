public import GreffeCore

/// A moderation decision or takedown as a DSA statement of reasons (Art. 17,
/// submitted to the Commission's Transparency Database under Art. 24(5)), in
/// the body format of the Database's API (`Schemas/dsa-sor.schema.json`).
/// Pure: the caller reads the events and the reports they answer.
///
/// Field by field (Database field ← event):
/// - decision_visibility ← `decision` remove (CONTENT_REMOVED), `action` removed
///   (CONTENT_REMOVED) or blocked_hash (CONTENT_DISABLED), or
///   `statement_of_reasons.visibility` (required for restrict);
///   decision_account ← `action` account_suspended or `account_decision`.
/// - decision_ground, the legal or contractual ground, reference URL ← `statement_of_reasons`.
/// - illegal/incompatible_content_explanation ← `explanation`, else `reason`.
/// - decision_facts ← `facts`, else `reason`.
/// - category, category_specification ← `statement_of_reasons`, else the linked
///   report's category (`ReportFacts`): NCII → CYBER_VIOLENCE with
///   KEYWORD_NON_CONSENSUAL_IMAGE_SHARING, CSAM → PROTECTION_OF_MINORS with
///   KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL, impersonation → SCAMS_AND_FRAUD with
///   KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING (Greffe's reading of the
///   categories; the Database ties no keyword to a category).
/// - content_type ← `content_type`, else image (content hashes name images).
/// - content_date ← `content_date`; application_date ← `occurred_at` (UTC date).
/// - source_type ← `source_type`, else the linked report's `reporter_type`
///   (trusted_flagger → TRUSTED_FLAGGER, victim or user → ARTICLE_16, authority →
///   OTHER_NOTIFICATION), else own initiative when no report is named.
/// - automated_detection, automated_decision ← `statement_of_reasons`.
/// - puid ← `greffe-<index>-<leaf hash hex>`: the ledger entry it comes from.
/// - Not exported: source_identity (personal data of the notifier), content_id (EAN-13 is for products).
public enum StatementOfReasons {
    /// What the linked `report.received` said.
    public struct ReportFacts: Sendable, Equatable {
        public var reporterType: String?
        public var category: String?

        public init(reporterType: String?, category: String?) {
            self.reporterType = reporterType
            self.category = category
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// A statement ready to submit.
        case statement(JSONValue)
        /// Not a statement: why, and the `statement_of_reasons` fields the event would need.
        case notExported(reason: String, missing: [String])
    }

    /// The `puid` naming ledger entry `index` with RFC 9162 leaf hash `leafHash`.
    public static func puid(index: UInt64, leafHash: Hash) -> String {
        "greffe-\(index)-\(leafHash.hex)"
    }

    /// The statement for the event of `kind` at `index`, or why there is none.
    /// `report` is what the report it names said (nil when it names none or it was not found).
    public static func make(kind: String, body: JSONValue, index: UInt64, leafHash: Hash, report: ReportFacts?) -> Outcome {
        let sor = body["statement_of_reasons"]?.objectValue ?? [:]
        var missing: [String] = []
        var out: [(String, JSONValue)] = []
        func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }

        // The restriction.
        var visibility = sor["visibility"]?.arrayValue?.compactMap(\.stringValue)
        var account = sor["account_decision"]?.stringValue.map { $0 == "terminated" ? "DECISION_ACCOUNT_TERMINATED" : "DECISION_ACCOUNT_SUSPENDED" }
        switch kind {
        case "moderation.decision":
            switch body["decision"]?.stringValue {
            case "no_action":
                return .notExported(reason: "no_action restricts nothing: Art. 17 DSA asks for a statement of reasons only for a restriction", missing: [])
            case "remove": visibility = visibility ?? ["DECISION_VISIBILITY_CONTENT_REMOVED"]
            case "restrict": if visibility == nil && account == nil { missing.append("visibility") }
            default: return .notExported(reason: "the decision is not remove, restrict or no_action", missing: [])
            }
        case "takedown.executed":
            switch body["action"]?.stringValue {
            case "removed": visibility = visibility ?? ["DECISION_VISIBILITY_CONTENT_REMOVED"]
            case "blocked_hash": visibility = visibility ?? ["DECISION_VISIBILITY_CONTENT_DISABLED"]
            case "account_suspended": account = account ?? "DECISION_ACCOUNT_SUSPENDED"
            default: return .notExported(reason: "the action is not removed, blocked_hash or account_suspended", missing: [])
            }
        default:
            return .notExported(reason: "only moderation.decision and takedown.executed events are statements of reasons", missing: [])
        }
        if let visibility { out.append(("decision_visibility", strings(visibility))) }
        if let account { out.append(("decision_account", .string(account))) }
        if let type = sor["account_type"]?.stringValue { out.append(("account_type", .string(type == "business" ? "ACCOUNT_TYPE_BUSINESS" : "ACCOUNT_TYPE_PRIVATE"))) }

        // The ground.
        let reason = body["reason"]?.stringValue
        let explanation = sor["explanation"]?.stringValue ?? reason
        switch sor["decision_ground"]?.stringValue {
        case "illegal_content":
            out.append(("decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT"))
            if let ground = sor["legal_ground"]?.stringValue { out.append(("illegal_content_legal_ground", .string(ground))) } else { missing.append("legal_ground") }
            if let explanation { out.append(("illegal_content_explanation", .string(explanation))) } else { missing.append("explanation") }
        case "incompatible_content":
            out.append(("decision_ground", "DECISION_GROUND_INCOMPATIBLE_CONTENT"))
            if let ground = sor["contractual_ground"]?.stringValue { out.append(("incompatible_content_ground", .string(ground))) } else { missing.append("contractual_ground") }
            if let explanation { out.append(("incompatible_content_explanation", .string(explanation))) } else { missing.append("explanation") }
            if let illegal = sor["also_illegal"]?.boolValue { out.append(("incompatible_content_illegal", .string(illegal ? "Yes" : "No"))) }
        default:
            missing.append("decision_ground")
        }
        if let url = sor["ground_reference_url"]?.stringValue { out.append(("decision_ground_reference_url", .string(url))) }

        // The content.
        out.append(("content_type", strings(sor["content_type"]?.arrayValue?.compactMap(\.stringValue) ?? ["CONTENT_TYPE_IMAGE"])))
        let derived = report?.category.flatMap { categoryOfReport[$0] }
        if let category = sor["category"]?.stringValue ?? derived?.category {
            out.append(("category", .string(category)))
        } else {
            missing.append("category")
        }
        if let additions = sor["category_additions"]?.arrayValue?.compactMap(\.stringValue) { out.append(("category_addition", strings(additions))) }
        if let keywords = sor["keywords"]?.arrayValue?.compactMap(\.stringValue) ?? (sor["category"] == nil ? derived.map { [$0.keyword] } : nil) {
            out.append(("category_specification", strings(keywords)))
        }
        if let scope = sor["territorial_scope"]?.arrayValue?.compactMap(\.stringValue) { out.append(("territorial_scope", strings(scope))) }
        if let language = sor["content_language"]?.stringValue { out.append(("content_language", .string(language))) }
        if let date = sor["content_date"]?.stringValue { out.append(("content_date", .string(date))) } else { missing.append("content_date") }
        if let occurred = body["occurred_at"]?.stringValue, let milliseconds = RFC3339Time.milliseconds(occurred) {
            out.append(("application_date", .string(TierReport.label(milliseconds, .day))))
        }
        if let end = sor["end_date"]?.stringValue {
            out.append((visibility == nil ? "end_date_account_restriction" : "end_date_visibility_restriction", .string(end)))
        }

        // Facts, source, automation.
        if let facts = sor["facts"]?.stringValue ?? reason { out.append(("decision_facts", .string(facts))) } else { missing.append("facts") }
        if let source = sor["source_type"]?.stringValue {
            out.append(("source_type", .string(sourceTypes[source] ?? source)))
        } else if body["report_id"] == nil {
            out.append(("source_type", "SOURCE_VOLUNTARY"))
        } else if let reporter = report?.reporterType, let source = sourceOfReporter[reporter] {
            out.append(("source_type", .string(source)))
        } else {
            missing.append("source_type")
        }
        if let detected = sor["automated_detection"]?.boolValue {
            out.append(("automated_detection", .string(detected ? "Yes" : "No")))
        } else {
            missing.append("automated_detection")
        }
        if let automated = sor["automated_decision"]?.stringValue, let value = automatedDecisions[automated] {
            out.append(("automated_decision", .string(value)))
        } else {
            missing.append("automated_decision")
        }
        out.append(("puid", .string(puid(index: index, leafHash: leafHash))))

        guard missing.isEmpty else {
            return .notExported(
                reason: "the event lacks what the statement needs: statement_of_reasons." + missing.joined(separator: ", statement_of_reasons."),
                missing: missing)
        }
        return .statement(.object(JSONObject(out)))
    }

    static let categoryOfReport: [String: (category: String, keyword: String)] = [
        "non_consensual_intimate_imagery": ("STATEMENT_CATEGORY_CYBER_VIOLENCE", "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING"),
        "csam": ("STATEMENT_CATEGORY_PROTECTION_OF_MINORS", "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL"),
        "impersonation": ("STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING"),
    ]
    static let sourceOfReporter = [
        "trusted_flagger": "SOURCE_TRUSTED_FLAGGER", "victim": "SOURCE_ARTICLE_16", "user": "SOURCE_ARTICLE_16",
        "authority": "SOURCE_TYPE_OTHER_NOTIFICATION",
    ]
    static let sourceTypes = [
        "notice": "SOURCE_ARTICLE_16", "trusted_flagger": "SOURCE_TRUSTED_FLAGGER", "other_notification": "SOURCE_TYPE_OTHER_NOTIFICATION",
        "own_initiative": "SOURCE_VOLUNTARY",
    ]
    static let automatedDecisions = [
        "fully": "AUTOMATED_DECISION_FULLY", "partially": "AUTOMATED_DECISION_PARTIALLY", "not_automated": "AUTOMATED_DECISION_NOT_AUTOMATED",
    ]
}
