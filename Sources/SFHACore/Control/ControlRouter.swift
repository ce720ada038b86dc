import SFHABase

/// Maps (method, path) to handlers. Patterns are literal segments and `{name}` parameters, one segment each:
/// `/v1/groups/{name}/failover`. A literal segment wins over a parameter at the same position, so
/// `/v1/vips/cleanup` and `/v1/vips/{name}` can coexist.
///
/// Unknown path → 404 `not_found`; known path, other method → 405 with an `Allow` header; a handler's
/// `SFHAError` → the status its code maps to (`ControlStatus.status(for:)`).
///
/// Handlers registered without a body type (`post(_:_:)`, `delete(_:_:)`) refuse a body other than nothing or `{}`
/// (400); with one (`post(_:body:_:)`), the body must decode as that type. Either way, bad JSON never reaches a handler.
///
/// `add(_:_:_:)` takes the raw `Handler` (typed throws: annotate the closure, `{ (request) throws(SFHAError) in … }`).
/// The JSON conveniences (`get`, `post`, `put`, `delete`, `add(_:_:json:)`, `add(_:_:body:_:)`) take plain throwing
/// closures, because Swift does not infer typed throws for closures: an `SFHAError` they throw keeps its code, any
/// other error is answered 500 `internal`.
public struct ControlRouter: Sendable {
    public typealias Handler = @Sendable (ControlRequest) async throws(SFHAError) -> ControlResponse

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    struct Route: Sendable {
        var method: String
        var pattern: String
        var segments: [Segment]
        var handler: Handler
    }

    private var routes: [Route] = []

    public init() {}

    /// Every registered (method, pattern), in registration order.
    public var endpoints: [(method: String, pattern: String)] { routes.map { ($0.method, $0.pattern) } }

    /// Registers a handler that builds its own response (status, body). Registering the same method and pattern
    /// twice is a programming error.
    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        let method = method.uppercased()
        let segments = Self.parse(pattern: pattern)
        precondition(
            !routes.contains { $0.method == method && $0.segments == segments },
            "control route \(method) \(pattern) registered twice")
        routes.append(Route(method: method, pattern: pattern, segments: segments, handler: handler))
    }

    /// Registers a handler whose result is sent as JSON with status 200. The handler takes no body: except for GET
    /// and HEAD (whose bodies mean nothing), a body other than nothing or `{}` is answered 400 before the handler
    /// runs, so a command never acts on a request it did not understand.
    public mutating func add<Output: Encodable & Sendable>(
        _ method: String, _ pattern: String,
        json handler: @escaping @Sendable (ControlRequest) async throws -> Output
    ) {
        let takesBody = !["GET", "HEAD"].contains(method.uppercased())
        add(method, pattern) { (request: ControlRequest) async throws(SFHAError) -> ControlResponse in
            if takesBody { try request.requireNoParameters() }
            return try .json(try await Self.mapErrors { try await handler(request) })
        }
    }

    /// Registers a handler that receives the JSON body decoded as `Input` (an empty body reads as `{}`; bad JSON
    /// is answered 400 before the handler runs) and whose result is sent as JSON with status 200.
    public mutating func add<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ method: String, _ pattern: String, body: Input.Type,
        _ handler: @escaping @Sendable (ControlRequest, Input) async throws -> Output
    ) {
        add(method, pattern) { (request: ControlRequest) async throws(SFHAError) -> ControlResponse in
            let input = try request.decode(Input.self)
            return try .json(try await Self.mapErrors { try await handler(request, input) })
        }
    }

    public mutating func get<Output: Encodable & Sendable>(
        _ pattern: String, _ handler: @escaping @Sendable (ControlRequest) async throws -> Output
    ) {
        add("GET", pattern, json: handler)
    }

    public mutating func post<Output: Encodable & Sendable>(
        _ pattern: String, _ handler: @escaping @Sendable (ControlRequest) async throws -> Output
    ) {
        add("POST", pattern, json: handler)
    }

    public mutating func post<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ pattern: String, body: Input.Type,
        _ handler: @escaping @Sendable (ControlRequest, Input) async throws -> Output
    ) {
        add("POST", pattern, body: body, handler)
    }

    public mutating func put<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ pattern: String, body: Input.Type,
        _ handler: @escaping @Sendable (ControlRequest, Input) async throws -> Output
    ) {
        add("PUT", pattern, body: body, handler)
    }

    public mutating func delete<Output: Encodable & Sendable>(
        _ pattern: String, _ handler: @escaping @Sendable (ControlRequest) async throws -> Output
    ) {
        add("DELETE", pattern, json: handler)
    }

    /// Finds the route for `request` (filling `pathParameters`) and runs it. Never throws: every failure is an
    /// error response.
    public func respond(to request: ControlRequest) async -> ControlResponse {
        let pathSegments = Self.split(request.path)
        var best: (route: Route, parameters: [String: String])?
        var allowed: Set<String> = []
        for route in routes {
            guard let parameters = Self.match(route.segments, pathSegments) else { continue }
            if route.method != request.method.uppercased() {
                allowed.insert(route.method)
                continue
            }
            if let current = best, !Self.isMoreSpecific(route.segments, than: current.route.segments) { continue }
            best = (route, parameters)
        }
        guard let best else {
            if !allowed.isEmpty {
                let list = allowed.sorted().joined(separator: ", ")
                var response = ControlResponse.error(
                    .invalidArgument, "method \(request.method) is not allowed on \(request.path) (allowed: \(list))",
                    status: ControlStatus.methodNotAllowed)
                response.headers["Allow"] = list
                return response
            }
            return .error(.notFound, "no such endpoint: \(request.path)")
        }
        var routed = request
        routed.pathParameters = best.parameters
        do {
            return try await best.route.handler(routed)
        } catch {
            return .error(error)
        }
    }

    /// Runs a convenience handler: `SFHAError` passes through, anything else becomes `internal`.
    static func mapErrors<Output>(_ body: () async throws -> Output) async throws(SFHAError) -> Output {
        do {
            return try await body()
        } catch let error as SFHAError {
            throw error
        } catch {
            throw SFHAError(.internalError, "internal error: \(error)")
        }
    }

    // MARK: - Patterns

    /// Path segments without the leading empty one; a trailing slash is ignored.
    static func split(_ path: String) -> [Substring] {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.first == "" { segments.removeFirst() }
        if segments.count > 1, segments.last == "" { segments.removeLast() }
        return segments
    }

    static func parse(pattern: String) -> [Segment] {
        precondition(pattern.hasPrefix("/"), "control route pattern '\(pattern)' must start with '/'")
        return split(pattern).map { segment in
            if segment.hasPrefix("{") && segment.hasSuffix("}") && segment.count > 2 {
                return .parameter(String(segment.dropFirst().dropLast()))
            }
            precondition(!segment.contains("{") && !segment.contains("}"), "bad control route pattern '\(pattern)'")
            return .literal(String(segment))
        }
    }

    static func match(_ pattern: [Segment], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(pattern, path) {
            switch segment {
            case .literal(let literal):
                guard literal == value else { return nil }
            case .parameter(let name):
                guard !value.isEmpty else { return nil }
                parameters[name] = String(value)
            }
        }
        return parameters
    }

    /// Literal beats parameter at the first position where the two patterns differ in kind.
    static func isMoreSpecific(_ lhs: [Segment], than rhs: [Segment]) -> Bool {
        for (left, right) in zip(lhs, rhs) {
            switch (left, right) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }
}
