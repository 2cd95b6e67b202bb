#!/usr/bin/env python3
"""A point-to-point Ethernet link with a fixed one-way delay, in userspace: two TAP devices
(created here, in the caller's network namespace; move them where they belong with
`ip link set NAME netns NS` - the link keeps working) and every frame from one is written to
the other DELAY_MS later, in order. For machines whose kernel has no sch_netem.

    delaylink.py TAP_A TAP_B DELAY_MS      (prints "ready" once both devices exist)
"""
import fcntl, heapq, os, select, struct, sys, time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    a, b = tap(sys.argv[1]), tap(sys.argv[2])
    delay = float(sys.argv[3]) / 1000.0
    other = {a: b, b: a}
    queue, seq = [], 0
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, frame = heapq.heappop(queue)
            try:
                os.write(fd, frame)
            except OSError:
                pass  # the device is down or full: the frame is lost, as on a wire
        timeout = max(0.0, queue[0][0] - now) if queue else None
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                seq += 1
                heapq.heappush(queue, (now + delay, seq, other[fd], frame))


if __name__ == "__main__":
    main()
