#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard `process_*` metrics, as Prometheus's client libraries export them, read from
/// Linux's `/proc` at each scrape. A value that cannot be read is left out.
struct ProcessMetrics {
    var cpuSeconds: Double?
    var residentBytes: UInt64?
    var virtualBytes: UInt64?
    var openFDs: UInt64?
    var maxFDs: UInt64?
    var startTimeSeconds: Double?

    /// The kernel's boot time (Unix seconds), from `/proc/stat`; it does not change.
    private static let bootTime: Double? = {
        guard let text = readSmallFile("/proc/stat", limit: 1 << 20) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6))
        }
        return nil
    }()

    static func current() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = UInt64(clamping: sysconf(Int32(_SC_PAGESIZE)))
        // /proc/self/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses,
        // so the fields are counted from the last ')'. After it, field 3 (state) is index 0.
        if let stat = readSmallFile("/proc/self/stat", limit: 4096), let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 21, ticks > 0 {
                if let user = Double(fields[11]), let system = Double(fields[12]) { metrics.cpuSeconds = (user + system) / ticks }
                if let start = Double(fields[19]), let boot = bootTime { metrics.startTimeSeconds = boot + start / ticks }
                metrics.virtualBytes = UInt64(fields[20])
                if let pages = UInt64(fields[21]) { metrics.residentBytes = pages.multipliedReportingOverflow(by: pageSize).partialValue }
            }
        }
        metrics.openFDs = countOpenFDs()
        var limit = rlimit()
        #if canImport(Glibc)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        if status == 0 { metrics.maxFDs = UInt64(limit.rlim_cur) }
        return metrics
    }

    func write(to out: inout Exposition) {
        if let cpuSeconds {
            out.family("process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.", prefixed: false)
            out.sample([:], cpuSeconds)
        }
        if let residentBytes {
            out.family("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", prefixed: false)
            out.sample([:], residentBytes)
        }
        if let virtualBytes {
            out.family("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.", prefixed: false)
            out.sample([:], virtualBytes)
        }
        if let openFDs {
            out.family("process_open_fds", .gauge, "Number of open file descriptors.", prefixed: false)
            out.sample([:], openFDs)
        }
        if let maxFDs {
            out.family("process_max_fds", .gauge, "Maximum number of open file descriptors.", prefixed: false)
            out.sample([:], maxFDs)
        }
        if let startTimeSeconds {
            out.family("process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.",
                       prefixed: false)
            out.sample([:], startTimeSeconds)
        }
    }

    /// Entries of `/proc/self/fd`, less the directory's own descriptor.
    private static func countOpenFDs() -> UInt64? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count: UInt64 = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return count > 0 ? count - 1 : 0
    }

    /// The first `limit` bytes of a file under /proc, as text.
    private static func readSmallFile(_ path: String, limit: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let got = bytes.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { read(fd, $0 + filled, limit - filled) } ?? -1
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            filled += got
        }
        return String(decoding: bytes[..<filled], as: UTF8.self)
    }
}
