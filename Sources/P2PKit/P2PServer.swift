import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SFHABase
import ServiceLifecycle
import Synchronization

/// A P2P request as the handler sees it: authenticated, from an allowed source, within the limits.
public struct P2PRequest: Sendable {
    public var method: String
    public var path: String
    public var body: [UInt8]
    /// The peer's address (the mesh address of a member, or of a pending invitation for the redeem call).
    public var source: IPAddress?
}

/// A P2P answer: a status and a JSON body. The server signs it (binding it to the request's nonce).
public struct P2PAnswer: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    /// Run once the answer was written out (or failed to be): `true` when it was. For a handler whose next step
    /// would cut the path the answer travels on (a redeemed invitation's WireGuard peer).
    public var afterSending: (@Sendable (Bool) -> Void)?

    public init(status: Int, body: [UInt8], afterSending: (@Sendable (Bool) -> Void)? = nil) {
        self.status = status
        self.body = body
        self.afterSending = afterSending
    }

    public static func == (lhs: P2PAnswer, rhs: P2PAnswer) -> Bool { lhs.status == rhs.status && lhs.body == rhs.body }

    /// `{"error":{"code":…,"message":…}}` with the HTTP status of the code.
    public static func error(_ status: Int, code: String, _ message: String) -> P2PAnswer {
        let payload = ["error": ["code": code, "message": message]]
        let body = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])).map(Array.init) ?? []
        return P2PAnswer(status: status, body: body)
    }
}

/// The P2P API's server (TCP 7777, bound to this node's mesh address only). The HTTP parsing is SwiftNIO's; what
/// this adds: the source check (a member's mesh address, or a pending invitation's for the redeem call), the
/// authentication (`P2PAuthenticator`), limits (connections, idle time, header fields, body size, handler time),
/// one request per connection, and signed answers. A refused request never reaches the handler: it changes nothing.
public struct P2PServer: Service {
    public struct Limits: Sendable {
        public var maximumConnections = 64
        public var idleTimeout: TimeAmount = .seconds(10)
        public var maximumBodyBytes = 1 << 20
        public var maximumHeaderFields = 32
        public var handlerTimeout: Duration = .seconds(30)
        public init() {}
    }

    public static let defaultPort = 7777

    let host: String
    let port: Int
    let authenticator: P2PAuthenticator
    let keyFor: @Sendable (IPAddress?, String) -> P2PKey?
    let limits: Limits
    let logger: Logger
    let bound: (@Sendable (Int) -> Void)?
    let handler: @Sendable (P2PRequest) async -> P2PAnswer
    let clock: @Sendable () -> Int64

    /// `isAllowed(source, path)` says whether a peer address may call a path (signed with `key`); `bound` receives
    /// the port actually bound (port 0 picks one: tests); `clock` gives Unix seconds (tests move it).
    public init(
        host: String, port: Int = P2PServer.defaultPort, key: P2PKey, limits: Limits = Limits(), logger: Logger,
        isAllowed: @escaping @Sendable (IPAddress?, String) -> Bool, bound: (@Sendable (Int) -> Void)? = nil,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        handler: @escaping @Sendable (P2PRequest) async -> P2PAnswer
    ) {
        self.init(
            host: host, port: port, limits: limits, logger: logger, keyFor: { isAllowed($0, $1) ? key : nil }, bound: bound, clock: clock,
            handler: handler)
    }

    /// `keyFor(source, path)` gives the key a peer address must sign a path's request with — the cluster's P2P key
    /// for a member, a key only the invitation's holder and its issuer can compute for the redeem call — or nil
    /// when that address may not call that path. The answer is signed with the same key.
    public init(
        host: String, port: Int = P2PServer.defaultPort, limits: Limits = Limits(), logger: Logger,
        keyFor: @escaping @Sendable (IPAddress?, String) -> P2PKey?, bound: (@Sendable (Int) -> Void)? = nil,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        handler: @escaping @Sendable (P2PRequest) async -> P2PAnswer
    ) {
        self.host = host
        self.port = port
        self.authenticator = P2PAuthenticator()
        self.limits = limits
        self.logger = logger
        self.keyFor = keyFor
        self.bound = bound
        self.clock = clock
        self.handler = handler
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = Mutex(0)
        let limits = self.limits
        let context = RequestContext(
            authenticator: authenticator, keyFor: keyFor, limits: limits, clock: clock, handler: handler, logger: logger)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    let admitted = open.withLock { count -> Bool in
                        guard count < limits.maximumConnections else { return false }
                        count += 1
                        return true
                    }
                    guard admitted else { return channel.close() }
                    channel.closeFuture.whenComplete { _ in open.withLock { $0 -= 1 } }
                    return channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
                        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                        try pipeline.addHandler(P2PRequestHandler(context: context))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw SFHAError(.unavailable, "cannot listen for the P2P API on \(host):\(port): \(error) (is the mesh up, and the port free?)")
        }
        let boundPort = channel.localAddress?.port ?? port
        logger.notice("P2P API listening on \(host):\(boundPort)")
        bound?(boundPort)
        try? await gracefulShutdown()
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// What every connection's handler shares.
struct RequestContext: Sendable {
    let authenticator: P2PAuthenticator
    let keyFor: @Sendable (IPAddress?, String) -> P2PKey?
    let limits: P2PServer.Limits
    let clock: @Sendable () -> Int64
    let handler: @Sendable (P2PRequest) async -> P2PAnswer
    let logger: Logger
}

private final class P2PRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let context: RequestContext
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// One request per connection: once answered (or refused), the rest of the connection is ignored.
    private var done = false

    init(context: RequestContext) { self.context = context }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            guard head.headers.count <= context.limits.maximumHeaderFields else {
                return finish(channelContext, .error(431, code: "too_many_headers", "more than \(context.limits.maximumHeaderFields) header fields"), nonce: nil, key: nil)
            }
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= context.limits.maximumBodyBytes else {
                return finish(channelContext, .error(413, code: "too_large", "the body exceeds \(context.limits.maximumBodyBytes) bytes"), nonce: nil, key: nil)
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            handle(head, channelContext)
        }
    }

    private func handle(_ head: HTTPRequestHead, _ channelContext: ChannelHandlerContext) {
        let path = head.uri
        let source = channelContext.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
        guard path.utf8.count <= 256, path.hasPrefix("/"), let key = context.keyFor(source, path) else {
            context.logger.warning("P2P: refused \(head.method) \(path.prefix(64)) from \(source.map { "\($0)" } ?? "an unknown address"): not a member's mesh address")
            return finish(channelContext, .error(403, code: "forbidden", "this address may not call this path"), nonce: nil, key: nil)
        }
        let nonce = head.headers.first(name: P2PHeader.nonce)
        if let refusal = context.authenticator.verify(
            method: head.method.rawValue, path: path, timestamp: head.headers.first(name: P2PHeader.timestamp), nonce: nonce,
            signature: head.headers.first(name: P2PHeader.signature), body: body, key: key, now: context.clock())
        {
            context.logger.warning("P2P: refused \(head.method) \(path) from \(source.map { "\($0)" } ?? "?"): \(refusal)")
            return finish(channelContext, .error(401, code: "unauthenticated", refusal.description), nonce: nil, key: nil)
        }
        let request = P2PRequest(method: head.method.rawValue, path: path, body: body, source: source)
        body = []
        done = true
        let handler = context.handler
        let timeout = context.limits.handlerTimeout
        let bound = NIOLoopBound((self, channelContext), eventLoop: channelContext.eventLoop)
        channelContext.eventLoop.makeFutureWithTask {
            await Self.answer(request, handler: handler, within: timeout)
        }.whenSuccess { answer in
            let (handler, channelContext) = bound.value
            handler.write(channelContext, answer, nonce: nonce, key: key)
        }
    }

    /// The handler's answer, or a 504 when it takes longer than the limit (the handler keeps running; its answer is
    /// dropped).
    private static func answer(_ request: P2PRequest, handler: @escaping @Sendable (P2PRequest) async -> P2PAnswer, within timeout: Duration) async -> P2PAnswer {
        await withTaskGroup(of: P2PAnswer?.self) { group in
            group.addTask { await handler(request) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .error(504, code: "timeout", "no answer within \(timeout)")
        }
    }

    private func finish(_ channelContext: ChannelHandlerContext, _ answer: P2PAnswer, nonce: String?, key: P2PKey?) {
        done = true
        body = []
        write(channelContext, answer, nonce: nonce, key: key)
    }

    /// Writes the answer (signed when the request was authenticated) and closes the connection.
    private func write(_ channelContext: ChannelHandlerContext, _ answer: P2PAnswer, nonce: String?, key: P2PKey?) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(answer.body.count))
        headers.add(name: "Connection", value: "close")
        if let nonce, let key {
            headers.add(name: P2PHeader.signature, value: P2PSignature.answer(status: answer.status, requestNonce: nonce, body: answer.body, key: key))
        }
        let status = HTTPResponseStatus(statusCode: answer.status)
        channelContext.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !answer.body.isEmpty {
            channelContext.write(wrapOutboundOut(.body(.byteBuffer(channelContext.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        }
        let channel = channelContext.channel
        let afterSending = answer.afterSending
        channelContext.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { result in
            channel.close(promise: nil)
            if case .success = result { afterSending?(true) } else { afterSending?(false) }
        }
    }

    /// A request NIO could not parse has had its 400 from NIO's error handler: the connection ends.
    func errorCaught(context channelContext: ChannelHandlerContext, error: any Error) {
        channelContext.close(promise: nil)
    }

    func userInboundEventTriggered(context channelContext: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // A request being handled is bounded by the handler's time limit instead.
            if !done || head == nil { channelContext.close(promise: nil) }
        } else {
            channelContext.fireUserInboundEventTriggered(event)
        }
    }
}

extension P2PAnswer {
    /// A refusal's `{"error":{"code","message"}}` as an `SFHAError` saying which node answered.
    public func failure(at node: String) -> SFHAError {
        struct Body: Decodable {
            struct Detail: Decodable {
                var code: String
                var message: String
            }
            var error: Detail
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(body)) else {
            return SFHAError(.unavailable, "\(node) answered with status \(status) and no explanation")
        }
        return SFHAError(SFHAError.Code(rawValue: String(body.error.code.prefix(64))), "\(node): \(body.error.message.prefix(2048))")
    }
}
