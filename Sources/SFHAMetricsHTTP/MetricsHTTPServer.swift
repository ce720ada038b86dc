import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SFHABase
import ServiceLifecycle
import Synchronization

/// sfhad's optional TCP listener for Prometheus (`metrics.listen`): `GET /metrics` (and `HEAD`), nothing else.
/// Network-facing, so the HTTP parsing is SwiftNIO's; what this adds are the limits: a few connections at a time,
/// an idle timeout, no request body, small request heads. It runs on its own event loop thread and only renders the
/// metrics registry (thread-safe): nothing here touches the daemon's core loop.
public struct MetricsHTTPServer: Service {
    /// Connections served at once; more are closed at once (a scraper needs one).
    public static let maximumConnections = 16
    /// A connection that sends nothing for this long is closed.
    public static let idleTimeout: TimeAmount = .seconds(10)
    /// A request with a body larger than this is refused (a scrape has none).
    public static let maximumBodyBytes = 1024

    public let address: ListenAddressText
    let render: @Sendable () -> [UInt8]
    let logger: Logger
    let bound: (@Sendable (Int) -> Void)?
    let idleTimeout: TimeAmount

    /// `bound` receives the port actually bound (port 0 picks one: tests).
    public init(
        host: String, port: Int, logger: Logger, idleTimeout: TimeAmount = MetricsHTTPServer.idleTimeout,
        bound: (@Sendable (Int) -> Void)? = nil, render: @escaping @Sendable () -> [UInt8]
    ) {
        self.address = ListenAddressText(host: host, port: port)
        self.idleTimeout = idleTimeout
        self.render = render
        self.logger = logger
        self.bound = bound
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionCounter()
        let render = self.render
        let idleTimeout = self.idleTimeout
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    guard connections.open() else {
                        return channel.close()
                    }
                    channel.closeFuture.whenComplete { _ in connections.close() }
                    return channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                        try pipeline.addHandler(MetricsRequestHandler(render: render))
                    }
                }
                .bind(host: address.host, port: address.port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw SFHAError(
                .unavailable,
                "cannot listen for /metrics on \(address): \(error) (is the address one of this node's, and the port free? see metrics.listen)")
        }
        let port = channel.localAddress?.port ?? address.port
        logger.notice("metrics served on http://\(ListenAddressText(host: address.host, port: port))/metrics")
        bound?(port)
        // Until sfhad stops (graceful shutdown or cancellation).
        try? await gracefulShutdown()
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// `HOST:PORT` or `[HOST]:PORT` for messages.
public struct ListenAddressText: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Counts open connections across the event loop's channels.
private final class ConnectionCounter: Sendable {
    private let count = Mutex(0)

    func open() -> Bool {
        count.withLock { value in
            guard value < MetricsHTTPServer.maximumConnections else { return false }
            value += 1
            return true
        }
    }

    func close() { count.withLock { $0 -= 1 } }
}

private final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> [UInt8]
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let body):
            bodyBytes += body.readableBytes
            if bodyBytes > MetricsHTTPServer.maximumBodyBytes {
                respond(context, status: .payloadTooLarge, body: Array("a scrape has no body\n".utf8), keepAlive: false)
                head = nil
            }
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard head.method == .GET || head.method == .HEAD else {
            return respond(context, status: .methodNotAllowed, body: Array("only GET /metrics\n".utf8), keepAlive: false, allow: true)
        }
        guard path == "/metrics" else {
            return respond(context, status: .notFound, body: Array("only /metrics is served here\n".utf8), keepAlive: head.isKeepAlive)
        }
        let body = render()
        respond(
            context, status: .ok, body: head.method == .HEAD ? [] : body, keepAlive: head.isKeepAlive,
            contentType: "text/plain; version=0.0.4; charset=utf-8", contentLength: body.count)
    }

    private func respond(
        _ context: ChannelHandlerContext, status: HTTPResponseStatus, body: [UInt8], keepAlive: Bool, allow: Bool = false,
        contentType: String = "text/plain; charset=utf-8", contentLength: Int? = nil
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(contentLength ?? body.count))
        if allow { headers.add(name: "Allow", value: "GET, HEAD") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// A request NIO could not parse has had its 400 (from NIO's protocol error handler): the connection ends, rather
    /// than waiting for the idle timeout.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
