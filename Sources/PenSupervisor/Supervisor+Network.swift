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
        guard let relayPlan = plan.relay else { return }
        relay?.stop()
        let owned: Int32
        if let port = vm.netPort {
            owned = vm.held.map { $0.release(port) } ?? port
            vm.netPort = nil
            // A copy stays here: a relay started again (after a suspend that failed) gets its own,
            // and the port never closes under the guest while this QEMU runs.
            if let spare = netPortSpare { close(spare) }
            netPortSpare = dup(owned)
        } else if let spare = netPortSpare {
            owned = dup(spare)
        } else {
            return
        }
        let notices = relayNotices
        var configuration = NetRelay.Configuration(
            policy: changedPolicy ?? relayPlan.policy,
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

    /// QEMU is gone for good: the port's last copy goes.
    func closeRelayPort() {
        if let spare = netPortSpare { close(spare) }
        netPortSpare = nil
    }

    /// After the VM: the published ports' listeners close (the relay that accepted on them is gone).
    func closePublishedListeners() {
        for listener in publishedListeners { close(listener.fd) }
        publishedListeners = []
    }

    /// `pen vm net NAME allow|deny RULE`: the new rules are kept in vm.json first (for the next
    /// boot; a record that cannot be written changes nothing), then the relay decides by them.
    /// Returns the status to answer with.
    func changePolicy(_ payload: [UInt8]) throws(PenError) -> Frame {
        guard let relayPlan = plan.relay, let relay else {
            throw PenError("VM '\(plan.spec.name)' runs --network \(plan.facts.network?.rawValue ?? "none"), which has no rules",
                           fix: "stop it and start it with --network allow --allow RULE")
        }
        let change: PolicyChange
        do { change = try PenJSON.decode(PolicyChange.self, from: Data(payload)) } catch { throw PenError("a malformed policy change") }
        let changed = try change.applied(to: changedPolicy ?? relayPlan.policy, vm: plan.spec.name)
        if let path = relayPlan.recordPath {
            try VMRecord.change(at: path) { record in
                record.network = changed.mode
                record.allow = changed.rules
            }
        }
        relay.update(changed)
        changedPolicy = changed
        log("pen: VM '\(plan.spec.name)': network rules now \(changed.rules.map(\.description).joined(separator: ", "))")
        let json: Data
        do { json = try PenJSON.encode(status) } catch { throw PenError("cannot encode the status") }
        return Frame(.statusReport, Array(json))
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
