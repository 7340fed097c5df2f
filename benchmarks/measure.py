"""Peak resident memory of the running process, for the benchmarks that run
each case in a fresh subprocess."""


def rss_kib(field):
    """A field of /proc/self/status in KiB (VmRSS: now, VmHWM: the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak():
    """Reset the peak (VmHWM) to the current resident size; False where the
    kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
