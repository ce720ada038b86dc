import SFHABase

#if canImport(Glibc)
import Glibc
#endif

/// The network interfaces of the calling process's network namespace.
public enum SystemInterfaces {
    public static func names() throws(SFHAError) -> [String] {
        guard let list = if_nameindex() else {
            throw SFHAError(.io, "cannot list the network interfaces: \(String(cString: strerror(errno)))")
        }
        defer { if_freenameindex(list) }
        var names: [String] = []
        var entry = list
        while entry.pointee.if_index != 0, let name = entry.pointee.if_name {
            names.append(String(cString: name))
            entry += 1
        }
        return names.sorted()
    }
}
