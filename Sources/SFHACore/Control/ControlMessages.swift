import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a control connection, as the kernel reports it (`SO_PEERCRED`: the values at the
/// time the peer called `connect(2)`; `SO_PEERGROUPS`: its supplementary groups).
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: pid_t
    public var uid: uid_t
    public var gid: gid_t
    /// Supplementary groups; empty when the kernel could not report them.
    public var groups: [gid_t]

    public init(pid: pid_t, uid: uid_t, gid: gid_t, groups: [gid_t] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// The primary group and the supplementary groups.
    public var allGroups: Set<gid_t> { Set(groups).union([gid]) }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// Which peers may use the control API.
public struct ControlAuthorization: Sendable {
    private let decide: @Sendable (PeerCredentials) -> Bool

    public init(_ decide: @escaping @Sendable (PeerCredentials) -> Bool) {
        self.decide = decide
    }

    public func allows(_ peer: PeerCredentials) -> Bool { decide(peer) }

    /// The default: root (uid 0) only.
    public static let rootOnly = ControlAuthorization { $0.uid == 0 }

    /// Root, plus members (primary or supplementary) of any of `groups` — pair with a socket group and mode 0660.
    public static func rootOrGroups(_ groups: Set<gid_t>) -> ControlAuthorization {
        ControlAuthorization { peer in peer.uid == 0 || !peer.allGroups.isDisjoint(with: groups) }
    }
}

/// The JSON error body every non-2xx answer carries: `{"code": "...", "message": "..."}` (plus `cause` when the
/// error has one). It is `SFHAError` on the wire.
public struct ControlErrorBody: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public var cause: String?

    public init(code: String, message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public init(_ error: SFHAError) {
        self.init(code: error.code.rawValue, message: error.message, cause: error.cause)
    }

    public var error: SFHAError {
        var error = SFHAError(SFHAError.Code(rawValue: code), message)
        error.cause = cause
        return error
    }
}

/// An empty JSON object (`{}`): the answer of commands that only succeed or fail, and the body of requests
/// without parameters.
public struct ControlEmpty: Codable, Sendable, Equatable {
    public init() {}
}

/// HTTP status codes and reason phrases used by the control API, and the `SFHAError.Code` ⇄ status mapping.
public enum ControlStatus {
    public static let ok = 200
    public static let badRequest = 400
    public static let forbidden = 403
    public static let notFound = 404
    public static let methodNotAllowed = 405
    public static let requestTimeout = 408
    public static let conflict = 409
    public static let lengthRequired = 411
    public static let payloadTooLarge = 413
    public static let headerFieldsTooLarge = 431
    public static let internalServerError = 500
    public static let notImplemented = 501
    public static let serviceUnavailable = 503
    public static let gatewayTimeout = 504
    public static let versionNotSupported = 505

    /// The status an `SFHAError` is answered with.
    public static func status(for code: SFHAError.Code) -> Int {
        switch code {
        case .invalidArgument, .invalidConfiguration: badRequest
        case .notFound: notFound
        case .exists, .invalidState, .notQuorate, .conflict: conflict
        case .unauthorized: forbidden
        case .timeout: gatewayTimeout
        case .unavailable, .notRunning: serviceUnavailable
        default: internalServerError
        }
    }

    /// The code for an error answer whose body could not be read (a proxy, a very old daemon): the reverse mapping.
    public static func code(for status: Int) -> SFHAError.Code {
        switch status {
        case badRequest, methodNotAllowed, lengthRequired, payloadTooLarge, headerFieldsTooLarge, requestTimeout,
            versionNotSupported, notImplemented:
            .invalidArgument
        case forbidden: .unauthorized
        case notFound: .notFound
        case conflict: .invalidState
        case serviceUnavailable: .unavailable
        case gatewayTimeout: .timeout
        default: .internalError
        }
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// JSON as the control API writes and reads it: sorted keys (stable output, diffable), no escaped slashes,
/// ISO 8601 dates.
public enum ControlJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    public static func encode(_ value: some Encodable) throws(SFHAError) -> [UInt8] {
        do {
            return Array(try encoder().encode(value))
        } catch {
            throw SFHAError(.internalError, "could not encode \(type(of: value)) as JSON", cause: error)
        }
    }

    /// Decodes `bytes`, which must be strict JSON (`ControlJSONSyntax`); the message of the thrown
    /// `invalid_argument` error describes what is wrong and where.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(SFHAError) -> T {
        if let problem = ControlJSONSyntax.problem(in: bytes) {
            throw SFHAError(.invalidArgument, "invalid JSON body: \(problem)")
        }
        do {
            return try decoder().decode(type, from: Data(bytes))
        } catch {
            throw SFHAError(.invalidArgument, "invalid JSON body: \(describe(error, in: bytes))")
        }
    }

    /// A one-line, operator-readable description of a decoding error (`DecodingError`'s own is very verbose, and
    /// on Linux a syntax error only says "not valid JSON": then the JSON parser is asked where).
    static func describe(_ error: any Error, in bytes: [UInt8]? = nil) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "expected \(type) at \(path(context.codingPath)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "expected \(type) at \(path(context.codingPath)) but found null"
        case .dataCorrupted(let context):
            var text = context.debugDescription
            if context.codingPath.isEmpty, let bytes {
                do {
                    _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
                    text = "a value does not fit the expected type (a fraction or an out-of-range number?)"
                } catch {
                    if let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String { text += " " + detail }
                }
            }
            return text + (context.codingPath.isEmpty ? "" : " at \(path(context.codingPath))")
        @unknown default:
            return String(describing: error)
        }
    }
}

/// One request as a handler sees it.
public struct ControlRequest: Sendable {
    /// Upper-case method: `GET`, `POST`, ...
    public var method: String
    /// The percent-decoded path without the query: `/v1/groups/web/failover`.
    public var path: String
    /// The query parameters, percent-decoded (`+` is a space); a repeated name keeps its last value.
    public var query: [String: String]
    /// Header fields by lower-case name; repeated fields are joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]
    /// Values of the `{name}` segments of the route that matched.
    public var pathParameters: [String: String]
    /// The connected process.
    public var peer: PeerCredentials

    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = [],
        pathParameters: [String: String] = [:], peer: PeerCredentials = PeerCredentials(pid: 0, uid: 0, gid: 0)
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.pathParameters = pathParameters
        self.peer = peer
    }

    /// The body decoded as JSON; an empty body reads as `{}`, so commands whose parameters are all optional work
    /// with a bare `curl -X POST`. Bad JSON → `invalid_argument` (400) with the decoder's explanation.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws(SFHAError) -> T {
        let isBlank = body.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        return try ControlJSON.decode(type, from: isBlank ? Array("{}".utf8) : body)
    }

    /// For commands without parameters: the body must be blank or a JSON object without members (`{}`). Anything
    /// else is refused (`invalid_argument`, 400), so a malformed or mistyped body never runs the command anyway.
    public func requireNoParameters() throws(SFHAError) {
        let members = try decode(ControlJSONMembers.self).names
        guard members.isEmpty else {
            let listed = members.sorted().prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            throw SFHAError(
                .invalidArgument, "\(method) \(path) takes no parameters, but the body has \(listed); send no body, or {}")
        }
    }

    /// For commands with optional parameters only: a member the command does not take is refused (`invalid_argument`,
    /// 400) rather than ignored — `{"on": false}` must not mean "standby on".
    public func requireOnlyParameters(_ allowed: Set<String>) throws(SFHAError) {
        let unknown = try decode(ControlJSONMembers.self).names.filter { !allowed.contains($0) }
        guard unknown.isEmpty else {
            let listed = unknown.sorted().prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            throw SFHAError(
                .invalidArgument,
                "\(method) \(path) takes only \(allowed.sorted().joined(separator: ", ")), but the body has \(listed)")
        }
    }

    /// A path parameter; a missing one is a programming error reported as `internal`.
    public func parameter(_ name: String) throws(SFHAError) -> String {
        guard let value = pathParameters[name] else {
            throw SFHAError(.internalError, "route for \(path) has no path parameter '\(name)'")
        }
        return value
    }

    /// True when the query has `name` set to `1`, `true`, `yes`, `on` or present without a value (`?json`).
    public func flag(_ name: String) -> Bool {
        guard let value = query[name] else { return false }
        return ["", "1", "true", "yes", "on"].contains(value.lowercased())
    }
}

/// The member names of a JSON object (whatever their values); anything but an object fails to decode.
private struct ControlJSONMembers: Decodable {
    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var names: [String]

    init(from decoder: any Decoder) throws {
        names = try decoder.container(keyedBy: Name.self).allKeys.map(\.stringValue)
    }
}

/// One answer: a status, a content type and body bytes (JSON, normally built with `json(_:)` or `error(_:)`).
public struct ControlResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Extra header fields (`Allow` on 405).
    public var headers: [String: String]

    public init(status: Int = 200, contentType: String = "application/json", body: [UInt8] = [], headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// `value` encoded as JSON (followed by a newline, for terminals).
    public static func json(_ value: some Encodable, status: Int = 200) throws(SFHAError) -> ControlResponse {
        ControlResponse(status: status, body: try ControlJSON.encode(value) + [0x0A])
    }

    /// The error body for `error`, with the status its code maps to (or `status` when given).
    public static func error(_ error: SFHAError, status: Int? = nil) -> ControlResponse {
        let body = (try? ControlJSON.encode(ControlErrorBody(error))) ?? Array(#"{"code":"internal","message":"?"}"#.utf8)
        return ControlResponse(status: status ?? ControlStatus.status(for: error.code), body: body + [0x0A])
    }

    public static func error(_ code: SFHAError.Code, _ message: String, status: Int? = nil) -> ControlResponse {
        error(SFHAError(code, message), status: status)
    }
}
