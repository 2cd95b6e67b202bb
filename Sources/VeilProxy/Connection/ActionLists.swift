/// The action lists the connection machines' events fill: one of each kind per worker, lent to
/// the event being handled and given back emptied with their room kept, so that handling an
/// event allocates nothing and no connection holds a list of its own. Everything runs on the
/// worker's ring thread; an event handled inside another (a list already lent) gets an empty
/// list, which allocates once, and whichever list comes back last is kept.
final class ActionLists {
    @exclusivity(unchecked) private var transfer: [TransferAction] = []
    @exclusivity(unchecked) private var request: [RequestMachine.Action] = []
    @exclusivity(unchecked) private var interceptRelay: [InterceptRelayMachine.Action] = []
    @exclusivity(unchecked) private var mixedRelay: [MixedRelayMachine.Action] = []

    init() {
        transfer.reserveCapacity(16)
        request.reserveCapacity(8)
        interceptRelay.reserveCapacity(16)
        mixedRelay.reserveCapacity(16)
    }

    func takeTransfer() -> [TransferAction] {
        var list: [TransferAction] = []
        swap(&list, &transfer)
        return list
    }

    func giveBack(transfer list: inout [TransferAction]) {
        ActionLists.empty(&list)
        swap(&list, &transfer)
    }

    func takeRequest() -> [RequestMachine.Action] {
        var list: [RequestMachine.Action] = []
        swap(&list, &request)
        return list
    }

    func giveBack(request list: inout [RequestMachine.Action]) {
        ActionLists.empty(&list)
        swap(&list, &request)
    }

    func takeInterceptRelay() -> [InterceptRelayMachine.Action] {
        var list: [InterceptRelayMachine.Action] = []
        swap(&list, &interceptRelay)
        return list
    }

    func giveBack(interceptRelay list: inout [InterceptRelayMachine.Action]) {
        ActionLists.empty(&list)
        swap(&list, &interceptRelay)
    }

    func takeMixedRelay() -> [MixedRelayMachine.Action] {
        var list: [MixedRelayMachine.Action] = []
        swap(&list, &mixedRelay)
        return list
    }

    func giveBack(mixedRelay list: inout [MixedRelayMachine.Action]) {
        ActionLists.empty(&list)
        swap(&list, &mixedRelay)
    }

    /// Empties `list`, keeping its room. `removeAll(keepingCapacity: true)` goes through the
    /// generic `replaceSubrange` (about 170 instructions for a list of one or two); popping the
    /// few actions of an event one by one costs a fraction of that.
    static func empty<Action>(_ list: inout [Action]) {
        while list.popLast() != nil {}
    }
}
