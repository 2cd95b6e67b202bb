/// Something that owns io_uring operations on an event loop: a connection, an acceptor.
///
/// All methods are called on the loop's thread.
public protocol IOHandler: AnyObject {
    /// One completion of an operation this handler submitted with tag `op`.
    /// `more` is true when a multishot operation will complete again.
    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop)
    /// The deadline set with `EventLoop.setDeadline` has passed.
    func deadlineExpired(loop: EventLoop)
    /// A message posted from another thread through `LoopRemote.deliver`.
    func receive(_ message: any Sendable, loop: EventLoop)
    /// After `EventLoop.retire`: nothing of this handler is in flight any more and its slot is
    /// free. Called once, never from inside another of this handler's calls: close descriptors,
    /// return buffers, write the summary here.
    func finalize(loop: EventLoop)
}

extension IOHandler {
    public func deadlineExpired(loop: EventLoop) {}
    public func receive(_ message: any Sendable, loop: EventLoop) {}
    public func finalize(loop: EventLoop) {}
}
