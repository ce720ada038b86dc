import CorosyncKit
import Foundation
import SFHABase

#if canImport(Glibc)
import Glibc
#endif

extension Lab {
    /// Programs `up` needs on the host.
    static let requiredTools = [
        "ip", "nsenter", "unshare", "mount", "corosync", "corosync-quorumtool", "setsid", "nft", "bash",
    ]

    /// Builds a lab and waits until every node is quorate with all nodes as members.
    ///
    /// Creates a bridge `<lab>-br`; per node a network namespace `<lab>-node<i>` (veth `<lab>-n<i>` on the bridge,
    /// `eth0` at .(10+i)/24, `lo` up), a persistent private mount namespace (`/etc/corosync`, `/var/lib/corosync`,
    /// `/var/log/corosync`, `/etc/sfha`, `/etc/wireguard`, `/var/lib/sfha` bound to per-node directories, a tmpfs on
    /// `/run`) and a UTS namespace whose hostname is the node name; a client host `<lab>-client` at .250 (network
    /// namespace only). Writes each node's corosync.conf (from `corosyncConf`) and authkey (0400, if given), starts
    /// corosync through the node's systemctl stand-in, and records everything in lab.json.
    ///
    /// A lab whose name is already in use (state directory, namespaces or bridge) is refused: tear it down with
    /// `Lab.down` first — `up` never guesses whether someone still uses it. If `up` fails half way, it tears down
    /// what it built before throwing.
    public static func up(
        _ spec: LabSpec,
        corosyncConf: @escaping @Sendable (LabSpec, [LabNode]) throws -> String = Lab.corosyncConfiguration,
        authKey: [UInt8]? = nil,
        quorumTimeout: Duration = .seconds(60),
        runner: any ProgramRunner = SystemProgramRunner()
    ) async throws(SFHAError) -> Lab {
        try requireRoot()
        try spec.validate()
        for tool in requiredTools where SystemProgramRunner.resolve(tool) == nil {
            throw SFHAError(
                .notFound,
                "'\(tool)' is not installed (or not in PATH); the lab needs iproute2, util-linux, nftables and corosync")
        }
        let subnet = try spec.resolvedSubnet()
        let leftovers = existingResources(of: spec.name)
        guard leftovers.isEmpty else {
            throw SFHAError(
                .exists,
                "lab '\(spec.name)' already exists (\(leftovers.joined(separator: ", "))); "
                    + "tear it down with 'sfha-lab down --name \(spec.name)' first")
        }
        let state = makeState(spec: spec, subnet: subnet)
        try createStateDirectory(state)
        do {
            try state.write()
            let lab = Lab(state: state, runner: runner)
            // Every lab gets its own cluster key (sfha's generated config uses crypto), unless the caller brings one.
            let key: [UInt8]
            if let authKey { key = authKey } else { key = try CorosyncAuthKey.generate() }
            try await lab.build(corosyncConf: corosyncConf, authKey: key, quorumTimeout: quorumTimeout)
            return try lab.reload()
        } catch {
            _ = try? await Lab.down(spec.name, runner: runner)
            throw error
        }
    }

    static func requireRoot() throws(SFHAError) {
        guard geteuid() == 0 else {
            throw SFHAError(
                .unauthorized,
                "the lab must run as root (it creates network namespaces, a bridge and mounts); run it with sudo")
        }
    }

    static func makeState(spec: LabSpec, subnet: LabSubnet) -> LabState {
        let directory = LabPaths.stateDirectory(spec.name)
        let nodes = (1...spec.nodeCount).map { index in
            let nodeName = LabNames.nodeName(index)
            return LabNode(
                name: nodeName, index: index, address: subnet.address(host: UInt8(10 + index)),
                networkNamespace: "\(spec.name)-\(nodeName)", hostInterface: "\(spec.name)-n\(index)", interface: "eth0",
                stateDirectory: "\(directory)/\(nodeName)", mountNamespaceFile: "\(directory)/\(nodeName).mnt",
                utsNamespaceFile: "\(directory)/\(nodeName).uts")
        }
        let client = LabNode(
            name: LabNames.clientHostName, index: 0, address: subnet.address(host: LabSubnet.clientHostOctet),
            networkNamespace: "\(spec.name)-client", hostInterface: "\(spec.name)-cl", interface: "eth0",
            stateDirectory: nil, mountNamespaceFile: nil, utsNamespaceFile: nil)
        return LabState(
            spec: spec, subnet: subnet.description, bridge: "\(spec.name)-br", stateDirectory: directory,
            binDirectory: LabPaths.binDirectory(spec.name), nodes: nodes, clientHost: client,
            createdAt: Date().timeIntervalSince1970, createdByPID: getpid())
    }

    static func createStateDirectory(_ state: LabState) throws(SFHAError) {
        if mkdir(LabPaths.root, 0o755) != 0, errno != EEXIST {
            throw SFHAError(.io, "cannot create \(LabPaths.root): \(String(cString: strerror(errno)))")
        }
        // mkdir is the lock against two concurrent `up`s of the same name. ENOENT: a concurrent `down` of the last
        // other lab removed the root in between; create it again.
        var created = mkdir(state.stateDirectory, 0o755) == 0
        if !created && errno == ENOENT {
            _ = mkdir(LabPaths.root, 0o755)
            created = mkdir(state.stateDirectory, 0o755) == 0
        }
        guard created else {
            let reason = errno == EEXIST ? "it already exists" : String(cString: strerror(errno))
            throw SFHAError(
                .exists, "cannot create \(state.stateDirectory): \(reason); run 'sfha-lab down --name \(state.spec.name)'")
        }
    }

    /// Anything already using the lab's names: state directory, namespaces, bridge, veths.
    static func existingResources(of labName: String) -> [String] {
        var found: [String] = []
        if FileManager.default.fileExists(atPath: LabPaths.stateDirectory(labName)) {
            found.append("state directory \(LabPaths.stateDirectory(labName))")
        }
        let names = LabResourceNames(lab: labName)
        found += names.networkNamespaces().map { "network namespace \($0)" }
        found += names.links().map { "interface \($0)" }
        return found
    }

    /// Everything after the state directory exists; any failure leaves cleanup to `up`'s catch.
    func build(
        corosyncConf: @Sendable (LabSpec, [LabNode]) throws -> String, authKey: [UInt8]?, quorumTimeout: Duration
    ) async throws(SFHAError) {
        try writeFiles(corosyncConf: corosyncConf, authKey: authKey)
        // A private self-bind of the state directory: namespace files bound inside it must not propagate into the
        // mount namespaces they refer to (the kernel refuses that loop).
        try await runner.check("mount", ["--bind", stateDirectory, stateDirectory])
        try await runner.check("mount", ["--make-private", stateDirectory])
        try await ensureHostMountPoints()
        try await runner.check("ip", ["link", "add", bridge, "type", "bridge"])
        try await runner.check("ip", ["link", "set", bridge, "up"])
        for host in nodes + [clientHost] {
            try await createNetwork(for: host)
            if host.mountNamespaceFile != nil { try await createMountNamespace(for: host) }
        }
        // Bare hosts have no cluster yet: 'sfha init' and 'sfha join' start corosync there.
        guard spec.bare != true else { return }
        for node in nodes {
            try await check(node.name, ["systemctl", "start", "corosync"])
        }
        try await waitUntilAllQuorate(timeout: quorumTimeout)
        var pids: [String: Int32] = [:]
        for node in nodes {
            if let pid = try corosyncPID(on: node.name) { pids[node.name] = pid }
        }
        try LabState.update(lab: name) { (state: inout LabState) throws(SFHAError) in state.corosyncPIDs = pids }
    }

    func writeFiles(corosyncConf: @Sendable (LabSpec, [LabNode]) throws -> String, authKey: [UInt8]?) throws(SFHAError) {
        try makeDirectory(binDirectory, mode: 0o755)
        try AtomicFile.write(
            LabSystemctl.script(labDirectory: stateDirectory, binDirectory: binDirectory),
            to: "\(binDirectory)/systemctl", mode: 0o755)
        try AtomicFile.write(LabSystemctl.shellRC(), to: "\(binDirectory)/shellrc", mode: 0o644)
        try AtomicFile.write(
            LabSystemctl.closeInheritedFDsScript(), to: "\(binDirectory)/\(LabSystemctl.closeInheritedFDsName)",
            mode: 0o755)
        try linkBuiltProducts()
        let config: String
        do {
            config = try corosyncConf(spec, nodes)
        } catch {
            throw SFHAError(.invalidArgument, "the corosync.conf generator failed for lab '\(name)'", cause: error)
        }
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        let units = LabSystemctl.defaultUnits(spec: spec, python: python)
        for node in nodes {
            guard let directory = node.stateDirectory else { continue }
            try makeDirectory(directory, mode: 0o755)
            for (_, subdirectory) in LabPaths.nodeBindMounts {
                try makeDirectory("\(directory)/\(subdirectory)", mode: subdirectory == "etc-wireguard" ? 0o700 : 0o755)
            }
            for subdirectory in ["run", "units", "logs", "demo-web"] {
                try makeDirectory("\(directory)/\(subdirectory)", mode: 0o755)
            }
            if spec.bare != true { try AtomicFile.write(config, to: "\(directory)/etc-corosync/corosync.conf", mode: 0o644) }
            if let authKey, spec.bare != true {
                try AtomicFile.write(authKey, to: "\(directory)/etc-corosync/authkey", mode: 0o400)
            }
            for (unit, contents) in units {
                try AtomicFile.write(contents, to: "\(directory)/units/\(unit).unit", mode: 0o644)
            }
            try AtomicFile.write("\(node.name)\n", to: "\(directory)/demo-web/index.html", mode: 0o644)
            // A bare host has no sfha configuration either: 'sfha init' writes it (or 'sfha join' receives it).
            if spec.bare != true {
                try AtomicFile.write(
                    Self.minimalSfhaConfiguration(lab: name, node: node.name), to: "\(directory)/etc-sfha/config.yml",
                    mode: 0o644)
            }
            let identity = "SFHA_LAB=\(name)\nSFHA_LAB_NODE=\(node.name)\nSFHA_LAB_ADDRESS=\(node.address)\n"
                + "SFHA_LAB_NODE_ID=\(node.nodeID)\n"
            try AtomicFile.write(identity, to: "\(directory)/node.env", mode: 0o644)
        }
    }

    /// Links the built products next to the program running `up` (the build directory, see `builtProduct`) into
    /// the bin directory. A product that was not built is left out, so the name falls through to the rest of PATH.
    func linkBuiltProducts() throws(SFHAError) {
        for product in Lab.linkedProducts {
            let target = Lab.builtProduct(product)
            guard FileManager.default.isExecutableFile(atPath: target) else { continue }
            let link = "\(binDirectory)/\(product)"
            guard symlink(target, link) == 0 else {
                throw SFHAError(
                    .io, "cannot link \(link) to \(target) for lab '\(name)': \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The config.yml every node starts with: enough for the `sfhad` unit to start (a cluster without resources).
    /// `LabDaemonCluster` and tests replace it.
    static func minimalSfhaConfiguration(lab: String, node: String) -> String {
        "# Written by sfha-lab up: the minimal configuration, so 'systemctl start sfhad' works. Replace it freely.\n"
            + "cluster:\n  name: \(lab)\nnode:\n  name: \(node)\n"
    }

    func makeDirectory(_ path: String, mode: mode_t) throws(SFHAError) {
        if mkdir(path, mode) != 0, errno != EEXIST {
            throw SFHAError(.io, "cannot create \(path) for lab '\(name)': \(String(cString: strerror(errno)))")
        }
    }

    /// Bind mounts inside nodes need their targets to exist on the host; missing ones (e.g. /etc/sfha) are
    /// created and remembered in a shared registry, and removed (when still empty) when the last lab goes down.
    func ensureHostMountPoints() async throws(SFHAError) {
        try DirectoryLock.withLock(on: LabPaths.root) { () throws(SFHAError) in
            var created = LabMountPointRegistry.read()
            for (target, _) in LabPaths.nodeBindMounts where !FileManager.default.fileExists(atPath: target) {
                do {
                    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                } catch {
                    throw SFHAError(.io, "cannot create mount point \(target) for lab '\(name)'", cause: error)
                }
                if !created.contains(target) { created.append(target) }
            }
            try LabMountPointRegistry.write(created)
        }
    }

    func createNetwork(for host: LabNode) async throws(SFHAError) {
        let namespace = host.networkNamespace
        try await runner.check("ip", ["netns", "add", namespace])
        try await runner.check(
            "ip", ["link", "add", host.hostInterface, "type", "veth", "peer", "name", host.interface, "netns", namespace])
        try await runner.check("ip", ["link", "set", host.hostInterface, "master", bridge, "up"])
        try await runner.check("ip", ["-n", namespace, "addr", "add", "\(host.address)/24", "dev", host.interface])
        try await runner.check("ip", ["-n", namespace, "link", "set", host.interface, "up"])
        try await runner.check("ip", ["-n", namespace, "link", "set", "lo", "up"])
    }

    /// The persistent mount + UTS namespaces of a node (see `up`). The tmpfs for /run is assembled at
    /// `<node>/run` first and then moved onto /run, because once it covers /run the per-node sources under
    /// /run/sfha-lab are no longer reachable.
    func createMountNamespace(for node: LabNode) async throws(SFHAError) {
        guard let directory = node.stateDirectory, let mountFile = node.mountNamespaceFile,
            let utsFile = node.utsNamespaceFile
        else { return }
        for file in [mountFile, utsFile] {
            try AtomicFile.write([], to: file, mode: 0o644)
        }
        try await runner.check(
            "unshare", ["--mount=\(mountFile)", "--uts=\(utsFile)", "--propagation", "private", "hostname", node.name])
        let inside = ["--mount=\(mountFile)", "--"]
        // The new namespace copied the host's /run/netns mounts and other labs' namespace files (the kernel skips
        // only mount-namespace files); detaching those copies keeps this node from pinning namespaces that other
        // labs' `down` removes. Failing is harmless (e.g. /run/netns is not a mount point).
        let otherLabs = MountTable.mountPoints().filter {
            $0.hasPrefix(LabPaths.root + "/") && $0 != stateDirectory && !$0.hasPrefix(stateDirectory + "/")
                && !$0.dropFirst(LabPaths.root.count + 1).contains("/")
        }
        for copied in ["/run/netns"] + Set(otherLabs).sorted() {
            _ = try await runner.run("nsenter", inside + ["umount", "-n", "-l", copied], timeout: .seconds(30))
        }
        for (target, subdirectory) in LabPaths.nodeBindMounts {
            try await runner.check("nsenter", inside + ["mount", "-n", "--bind", "\(directory)/\(subdirectory)", target])
        }
        let staging = "\(directory)/run"
        // Where a path under /run lands inside the staged tmpfs (which becomes the node's /run).
        func staged(_ path: String) -> String { staging + path.dropFirst("/run".count) }
        try await runner.check(
            "nsenter", inside + ["mount", "-n", "-t", "tmpfs", "-o", "mode=0755,size=64m", "sfha-lab-run", staging])
        try await runner.check(
            "nsenter",
            inside + [
                "mkdir", "-p", staged("/run/sfha"), staged("/run/lock"), staged(stateDirectory),
                staged(LabPaths.nodeDirectoryInsideNode), staged(LabPaths.unitStateInsideNode),
            ])
        // The lab directory at the same path as on the host (bin dir, other nodes' logs), and the node's own.
        try await runner.check("nsenter", inside + ["mount", "-n", "--bind", stateDirectory, staged(stateDirectory)])
        try await runner.check(
            "nsenter", inside + ["mount", "-n", "--bind", directory, staged(LabPaths.nodeDirectoryInsideNode)])
        try await runner.check("nsenter", inside + ["mount", "-n", "--move", staging, "/run"])
    }
}

/// The host mount-point directories the lab had to create (shared by all labs; `/run/sfha-lab/mount-points.json`).
enum LabMountPointRegistry {
    static let path = "\(LabPaths.root)/mount-points.json"

    static func read() -> [String] {
        guard let bytes = try? AtomicFile.read(path),
            let list = try? JSONDecoder().decode([String].self, from: Data(bytes))
        else { return [] }
        return list
    }

    static func write(_ list: [String]) throws(SFHAError) {
        if list.isEmpty {
            unlink(path)
            return
        }
        guard let data = try? JSONEncoder().encode(list.sorted()) else { return }
        try AtomicFile.write(Array(data), to: path, mode: 0o644)
    }
}
