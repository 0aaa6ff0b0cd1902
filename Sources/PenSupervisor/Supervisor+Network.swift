// The supervisor's side of the network relay: started with each QEMU of a VM under a policy
// (its own thread, on pen.net), stopped with it; what it has to say reaches the loop through
// RelayNotices: refusals go to the attached shells (bounded), a guest that broke pen.net's
// framing is stopped.
import Foundation
import PenCore
import PenWire

extension Supervisor {
    /// A relay for the running QEMU's pen.net port, when the plan has a policy.
    func startRelay() {
        guard let relayPlan = plan.relay, let port = vm.netPort else { return }
        relay?.stop()
        let owned = vm.held.map { $0.release(port) } ?? port
        vm.netPort = nil
        let notices = relayNotices
        var configuration = NetRelay.Configuration(
            policy: relayPlan.policy,
            host: PolicyHost(addresses: HostAddresses.current(), benchmarkingIsPublic: relayPlan.benchmarkingIsPublic),
            logPath: nil, logLimit: plan.logLimit)
        configuration.logDescriptor = networkLog.map { dup($0) }
        configuration.published = publishedListeners
        let started = NetRelay(port: owned, configuration: configuration,
                               onRefusal: { notices.refused($0) }, onFatal: { notices.failed($0) })
        started.start()
        relay = started
    }

    func stopRelay() {
        relay?.stop()
        relay = nil
    }

    /// After the VM: the published ports' listeners close (the relay that accepted on them is gone).
    func closePublishedListeners() {
        for listener in publishedListeners { close(listener.fd) }
        publishedListeners = []
    }

    /// The loop's turn for what the relay said.
    func takeRelayNotices() {
        let (lines, fatal) = relayNotices.take()
        for line in lines {
            // A client says a notice after "pen: " itself.
            let notice = Frame(.notice, text: line.hasPrefix("pen: ") ? String(line.dropFirst(5)) : line)
            for client in sessions.inSession where hasRoom(client) { client.link.send(notice) }
        }
        if let fatal {
            log("pen: VM '\(plan.spec.name)' broke its network channel (\(fatal)); stopping it")
            vm.process.kill()
        }
    }
}
