import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SFHABase

/// Calls another node's P2P API: one signed request per connection, SwiftNIO's HTTP/1.1 client codec, a time limit,
/// a size limit on the answer, and the answer's signature checked (it must be bound to this request's nonce).
public struct P2PClient: Sendable {
    public static let maximumAnswerBytes = 1 << 20

    let key: P2PKey
    let timeout: Duration
    let connectTimeout: Duration
    let clock: @Sendable () -> Int64

    /// `timeout` bounds the whole exchange; `connectTimeout` (default: `timeout`) the TCP connection alone.
    public init(
        key: P2PKey, timeout: Duration = .seconds(10), connectTimeout: Duration? = nil,
        clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.key = key
        self.timeout = timeout
        self.connectTimeout = connectTimeout ?? timeout
        self.clock = clock
    }

    /// Sends `method path` with `body` to `host:port` and returns the answer. Throws when the node cannot be
    /// reached in time, or when the answer is not signed with the cluster's key for this request (`.unauthorized`
    /// when the server refused this address or path before authentication: 403).
    public func send(_ method: String, _ path: String, body: [UInt8] = [], to host: String, port: Int = P2PServer.defaultPort) async throws(SFHAError) -> P2PAnswer {
        let nonce = P2PSignature.newNonce()
        let timestamp = clock()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host.contains(":") ? "[\(host)]" : host)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: P2PHeader.timestamp, value: String(timestamp))
        headers.add(name: P2PHeader.nonce, value: nonce)
        headers.add(name: P2PHeader.signature, value: P2PSignature.request(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body, key: key))
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)
        let received: (status: Int, signature: String?, body: [UInt8])
        do {
            received = try await exchange(head, body: body, host: host, port: port)
        } catch let error as SFHAError {
            throw error
        } catch {
            throw SFHAError(.unavailable, "P2P \(method) \(path) to \(host):\(port) failed: \(error) (is sfhad running there, and the mesh up?)")
        }
        guard let signature = received.signature,
            P2PSignature.isValidAnswer(signature, status: received.status, requestNonce: nonce, body: received.body, key: key)
        else {
            // An unsigned answer is the server's refusal before authentication (its JSON error says why), or not sfha.
            let detail = String(decoding: received.body.prefix(512), as: UTF8.self)
            throw SFHAError(
                received.status == 403 ? .unauthorized : .unavailable,
                "P2P \(method) \(path) to \(host):\(port): the answer (status \(received.status)) is not signed with this cluster's key: \(detail)")
        }
        return P2PAnswer(status: received.status, body: received.body)
    }

    private func exchange(_ head: HTTPRequestHead, body: [UInt8], host: String, port: Int) async throws -> (status: Int, signature: String?, body: [UInt8]) {
        let group = MultiThreadedEventLoopGroup.singleton
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: (status: Int, signature: String?, body: [UInt8]).self)
        let timeout = self.timeout
        let limit = TimeAmount.nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let connectLimit = TimeAmount.nanoseconds(
            connectTimeout.components.seconds * 1_000_000_000 + connectTimeout.components.attoseconds / 1_000_000_000)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(connectLimit)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(AnswerCollector(promise: promise))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            // The promise must be completed whatever happens (NIO traps on a promise left pending).
            promise.fail(error)
            throw error
        }
        let deadline = eventLoop.scheduleTask(in: limit) {
            promise.fail(SFHAError(.timeout, "P2P \(head.method) \(head.uri) to \(host):\(port): no answer within \(timeout)"))
            channel.close(promise: nil)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

/// Collects one answer (bounded), then completes the promise.
private final class AnswerCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let promise: EventLoopPromise<(status: Int, signature: String?, body: [UInt8])>
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    init(promise: EventLoopPromise<(status: Int, signature: String?, body: [UInt8])>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= P2PClient.maximumAnswerBytes else {
                promise.fail(SFHAError(.unavailable, "the P2P answer exceeds \(P2PClient.maximumAnswerBytes) bytes"))
                context.close(promise: nil)
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            promise.succeed((Int(head.status.code), head.headers.first(name: P2PHeader.signature), body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(SFHAError(.unavailable, "the P2P connection closed before a whole answer arrived"))
    }
}
