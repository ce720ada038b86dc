import Foundation
import SFHABase

/// A request the server answers with an error before any handler runs: the status and the wire error.
struct ControlHTTPFailure: Error, Equatable {
    var status: Int
    var error: SFHAError

    init(_ status: Int, _ code: SFHAError.Code, _ message: String) {
        self.status = status
        self.error = SFHAError(code, message)
    }

    var response: ControlResponse { .error(error, status: status) }
}

/// The HTTP/1.1 subset the control API speaks (RFC 9112): a request line, header fields, an optional
/// `Content-Length` body, one request per connection. Pure functions over bytes, shared by server and client.
enum ControlHTTP {
    /// Most header fields in one request.
    static let maxHeaderFields = 100

    struct RequestHead: Equatable {
        var method: String
        var target: String
        var minorVersion: Int
        /// Lower-case name → value; repeated fields joined with ", ".
        var headers: [String: String]
    }

    struct Target: Equatable {
        var path: String
        var query: [String: String]
    }

    struct ResponseHead: Equatable {
        var status: Int
        var headers: [String: String]
    }

    // MARK: - Framing

    /// The index just past the blank line that ends the head (`CRLF CRLF`, or bare `LF LF`), searching from
    /// `start` (pass the previous buffer length minus 3 when more bytes arrived); nil while incomplete.
    static func headEnd(in bytes: [UInt8], from start: Int = 0) -> Int? {
        var index = max(0, start)
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count, bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == 0x0D, bytes[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    /// Splits a head into lines (LF, with an optional CR before it), dropping the final blank line.
    private static func lines(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        var index = head.startIndex
        while index < head.endIndex {
            if head[index] == 0x0A {
                var lineEnd = index
                if lineEnd > lineStart, head[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                result.append(head[lineStart..<lineEnd])
                lineStart = index + 1
            }
            index += 1
        }
        if lineStart < head.endIndex { result.append(head[lineStart...]) }
        while let last = result.last, last.isEmpty { result.removeLast() }
        return result
    }

    // MARK: - Requests (server side)

    /// tchar of RFC 9110 §5.6.2.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// Parses the request line and header fields (`head` up to and including the blank line).
    static func parseRequestHead(_ head: ArraySlice<UInt8>) throws(ControlHTTPFailure) -> RequestHead {
        var all = lines(head)
        // RFC 9112 §2.2: ignore empty lines before the request line.
        while let first = all.first, first.isEmpty { all.removeFirst() }
        guard let requestLine = all.first else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "empty request")
        }
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw ControlHTTPFailure(
                ControlStatus.badRequest, .invalidArgument,
                "malformed request line: expected 'METHOD /path HTTP/1.1'")
        }
        let (methodBytes, targetBytes, versionBytes) = (parts[0], parts[1], parts[2])
        guard !methodBytes.isEmpty, methodBytes.count <= 32, methodBytes.allSatisfy(isTokenByte) else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed request method")
        }
        guard !targetBytes.isEmpty, targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed request target")
        }
        let version = String(decoding: versionBytes, as: UTF8.self)
        let minorVersion: Int
        switch version {
        case "HTTP/1.1": minorVersion = 1
        case "HTTP/1.0": minorVersion = 0
        default:
            if version.hasPrefix("HTTP/"), version.count == 8 || version.count == 6 {
                throw ControlHTTPFailure(
                    ControlStatus.versionNotSupported, .invalidArgument, "only HTTP/1.1 and HTTP/1.0 are supported")
            }
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed HTTP version")
        }
        let fields = all.dropFirst()
        guard fields.count <= maxHeaderFields else {
            throw ControlHTTPFailure(
                ControlStatus.headerFieldsTooLarge, .invalidArgument, "more than \(maxHeaderFields) header fields")
        }
        var headers: [String: String] = [:]
        for line in fields {
            let (name, value) = try parseField(line)
            if let existing = headers[name] {
                headers[name] = existing + ", " + value
            } else {
                headers[name] = value
            }
        }
        return RequestHead(
            method: String(decoding: methodBytes, as: UTF8.self), target: String(decoding: targetBytes, as: UTF8.self),
            minorVersion: minorVersion, headers: headers)
    }

    private static func parseField(_ line: ArraySlice<UInt8>) throws(ControlHTTPFailure) -> (String, String) {
        guard let first = line.first else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed header field")
        }
        if first == 0x20 || first == 0x09 {
            throw ControlHTTPFailure(
                ControlStatus.badRequest, .invalidArgument, "folded header lines (obs-fold) are not supported")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed header field: no ':'")
        }
        let nameBytes = line[line.startIndex..<colon]
        guard !nameBytes.isEmpty, nameBytes.allSatisfy(isTokenByte) else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed header field name")
        }
        var valueBytes = line[(colon + 1)...]
        while let byte = valueBytes.first, byte == 0x20 || byte == 0x09 { valueBytes.removeFirst() }
        while let byte = valueBytes.last, byte == 0x20 || byte == 0x09 { valueBytes.removeLast() }
        guard !valueBytes.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else {
            throw ControlHTTPFailure(
                ControlStatus.badRequest, .invalidArgument, "control character in header field value")
        }
        return (String(decoding: nameBytes, as: UTF8.self).lowercased(), String(decoding: valueBytes, as: UTF8.self))
    }

    /// The body length a request announces. Chunked bodies are refused (411): the control API wants a
    /// `Content-Length` (every HTTP client sends one for a fixed body).
    static func requestBodyLength(_ headers: [String: String], limit: Int) throws(ControlHTTPFailure) -> Int {
        let length = headers["content-length"]
        if let transferEncoding = headers["transfer-encoding"] {
            if length != nil {
                throw ControlHTTPFailure(
                    ControlStatus.badRequest, .invalidArgument, "both Transfer-Encoding and Content-Length were sent")
            }
            if transferEncoding.lowercased().contains("chunked") {
                throw ControlHTTPFailure(
                    ControlStatus.lengthRequired, .invalidArgument,
                    "chunked request bodies are not supported: send the body with a Content-Length")
            }
            throw ControlHTTPFailure(
                ControlStatus.badRequest, .invalidArgument, "unsupported Transfer-Encoding '\(transferEncoding)'")
        }
        guard let length else { return 0 }
        // Repeated fields arrive joined with ", "; they must all agree (RFC 9112 §6.3).
        let values = Set(length.split(separator: ",").map { $0.trimmingCharacters(in: [" ", "\t"]) })
        guard values.count == 1, let value = values.first, !value.isEmpty, value.allSatisfy(\.isASCII),
            value.allSatisfy(\.isNumber)
        else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "invalid Content-Length '\(length)'")
        }
        guard value.count <= 18, let count = Int(value), count <= limit else {
            throw ControlHTTPFailure(
                ControlStatus.payloadTooLarge, .invalidArgument, "request body larger than \(limit) bytes")
        }
        return count
    }

    /// Splits a request target (origin-form `/a/b?x=1`, or absolute-form `http://host/a/b?x=1`) into a
    /// percent-decoded path and query parameters.
    static func parseTarget(_ target: String) throws(ControlHTTPFailure) -> Target {
        var rest = Substring(target)
        let lowered = target.lowercased()
        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
            rest = rest[rest.index(rest.firstIndex(of: ":")!, offsetBy: 3)...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = rest[slash...]
            } else {
                rest = "/"
            }
            if rest.first == "?" { rest = "/" + rest }
        }
        guard rest.first == "/" else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "request target must start with '/'")
        }
        guard !rest.contains("#") else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "request target contains a fragment")
        }
        let rawPath: Substring
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            rawPath = rest[..<mark]
            for pair in rest[rest.index(after: mark)...].split(separator: "&") where !pair.isEmpty {
                let name: Substring
                let value: Substring
                if let equals = pair.firstIndex(of: "=") {
                    name = pair[..<equals]
                    value = pair[pair.index(after: equals)...]
                } else {
                    (name, value) = (pair, "")
                }
                guard let decodedName = percentDecode(name, plusIsSpace: true),
                    let decodedValue = percentDecode(value, plusIsSpace: true)
                else {
                    throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed query string")
                }
                query[decodedName] = decodedValue
            }
        } else {
            rawPath = rest
        }
        guard let path = percentDecode(rawPath, plusIsSpace: false) else {
            throw ControlHTTPFailure(ControlStatus.badRequest, .invalidArgument, "malformed percent-encoding in path")
        }
        return Target(path: path, query: query)
    }

    /// `%XX` decoding that must produce valid UTF-8; nil otherwise.
    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Percent-encodes one path segment or query component (everything but RFC 3986 unreserved characters).
    static func percentEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result += String(decoding: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return result
    }

    /// Removes CR and LF so handler-supplied header text cannot split the response.
    private static func headerSafe(_ text: String) -> String {
        // Filter scalars, not Characters: "\r\n" is one Character, equal to neither "\r" nor "\n".
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" }))
    }

    /// The response bytes; without the body (but with its `Content-Length`) for HEAD requests.
    static func serialize(_ response: ControlResponse, includeBody: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(ControlStatus.reason(response.status))\r\n"
        head += "Content-Type: \(headerSafe(response.contentType))\r\n"
        head += "Content-Length: \(response.body.count)\r\n"
        head += "Cache-Control: no-store\r\n"
        head += "Connection: close\r\n"
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) {
            let lowered = name.lowercased()
            guard !["content-type", "content-length", "connection", "cache-control"].contains(lowered),
                !name.isEmpty, name.utf8.allSatisfy(isTokenByte)
            else { continue }
            head += "\(name): \(headerSafe(value))\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (includeBody ? response.body : [])
    }

    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    // MARK: - Responses (client side)

    static func serializeRequest(method: String, target: String, body: [UInt8]?) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: sfha\r\n"
        head += "Accept: application/json\r\nConnection: close\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    /// Parses a status line and header fields; `100 Continue` heads are the caller's to skip.
    static func parseResponseHead(_ head: ArraySlice<UInt8>) -> ResponseHead? {
        let all = lines(head)
        guard let statusLine = all.first else { return nil }
        let parts = statusLine.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[1].count == 3,
            let status = Int(String(decoding: parts[1], as: UTF8.self)), (100...599).contains(status)
        else { return nil }
        var headers: [String: String] = [:]
        for line in all.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: [" ", "\t"])
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        return ResponseHead(status: status, headers: headers)
    }
}
