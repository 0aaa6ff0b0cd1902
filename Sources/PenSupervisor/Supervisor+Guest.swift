// The supervisor's side of the guest: its frames (ready, stage timings, each session's output,
// input acknowledgements and exit, the setup's progress, the halt) and a builder's archive.
import Foundation
import PenCore
import CHostSys
import PenIO
import PenWire

extension Supervisor {
    func readGuest() {
        let frames: [Frame]?
        do { frames = try guest.receive(&buffer) } catch {
            log("pen: VM '\(plan.spec.name)' sent a malformed frame (\(error.description)); stopping it")
            vm.process.kill()
            return
        }
        guard let frames else { return }  // QEMU is going away; its exit comes on the pidfd
        if !frames.isEmpty { advance(.guestSpoke) }
        for frame in frames {
            do { try handleGuest(frame) } catch {
                log("pen: VM '\(plan.spec.name)' sent a malformed frame (\(error.description)); stopping it")
                vm.process.kill()
                return
            }
        }
        for client in sessions.clients { flush(client) }
    }

    private func handleGuest(_ frame: Frame) throws(WireError) {
        switch frame.kind {
        case .ready:
            advance(.guestReady)  // once per boot: a guest repeating it changes nothing
            if relay == nil && state.boot == .ready && pendingSuspend == nil { startRelay() }  // a resumed VM's
        case .stage:
            // A name that is not a short printable word is dropped: the status report must fit a frame.
            guard let timing = try? frame.stageTiming() else { return }
            if stages.count < 64 || stages[timing.name] != nil { stages[timing.name] = timing.micros }
        case .setupStarted, .setupFinished, .notice, .diskError, .fatal:
            if frame.kind == .setupFinished { _ = try frame.status() }
            if frame.kind == .fatal {
                // The init fails once per boot: answered with a goodbye (it powers off after).
                guard advance(.guestFailed(frame.payload)) else { return }
                log("pen: guest init failed: \(state.guestFailure ?? "")")
            }
            // Guest text, for the user's terminal and this log: printable, at most 1000 bytes.
            var clipped = frame.kind == .setupFinished ? frame : Frame(frame.kind, text: GuestText.printable(frame.payload))
            if frame.kind == .fatal { clipped = Frame(.fatal, text: "VM '\(plan.spec.name)' failed to start: \(clipped.text)") }
            let listeners = sessions.inSession
            for listener in listeners where hasRoom(listener) { listener.link.send(clipped) }
            if listeners.isEmpty, frame.kind == .notice || frame.kind == .diskError, bootNotices.count < 16 {
                bootNotices.append(clipped)
                log(clipped.text)
            }
        case .snapshotPoint:
            advance(.snapshotPoint)  // a cold guest: saved (when asked to), then configured
        case .wantFresh:
            advance(.guestWantsFresh)
        case .halted:
            advance(.guestHalted)  // answered with one goodbye
        case .suspendReady:
            guestReadyForSuspend()
        case .suspendRefused:
            guestRefusedSuspend(GuestText.printable(frame.payload))
        default:
            try handleSessionFrame(frame)
        }
    }

    private func handleSessionFrame(_ frame: Frame) throws(WireError) {
        let (id, body) = try frame.sessionBody()
        if id == setupSessionID && (frame.kind == .stdoutData || frame.kind == .stderrData) {
            // The first-boot setup: its progress goes to every client with a session, as stderr.
            // A client that does not keep up misses some of it (it is not its session's output).
            guard outputArrived(setupSessionID, bytes: body.payload.count) != nil else { return }
            let progress = Frame.session(.stderrData, connectionSessionID, body.payload)
            for client in sessions.inSession where hasRoom(client) { client.link.send(progress) }
            outputTaken(setupSessionID, bytes: body.payload.count)
            return
        }
        let client = sessions.client(ofSession: id)
        switch frame.kind {
        case .stdoutData, .stderrData:
            // An empty frame carries nothing but would cost the host a queued frame: the window
            // (which counts bytes) would not bound a flood of them.
            guard !body.payload.isEmpty else { return }
            guard outputArrived(id, bytes: body.payload.count) != nil else { return }  // dropped
            if let client {
                client.link.send(.session(frame.kind, connectionSessionID, body.payload), output: id, bytes: body.payload.count)
            } else {
                outputTaken(id, bytes: body.payload.count)  // nobody left to read it
            }
        case .stdinAck:
            inputAcknowledged(id, count: try body.count())
        case .archiveEnd:
            client?.session?.archiveExpected = try body.count()
        case .exitStatus, .openFailed:
            if frame.kind == .exitStatus { _ = try body.status() }
            if id != setupSessionID { sessions.flow(id)?.ended = true }  // nothing more of it is taken
            guard let client, let session = client.session else { return }
            let exit = frame.kind == .openFailed
                ? Frame.openFailed(connectionSessionID, GuestText.printable(body.payload))
                : Frame.session(frame.kind, connectionSessionID, body.payload)
            if let expected = session.archiveExpected, archiveReceived < expected {
                session.heldExit = exit  // the rest of the archive is still on its way
            } else {
                endSession(of: client, with: exit)
            }
        default:
            throw .unexpected(frame.kind)
        }
    }

    /// The session's last frame goes to its client; the client is closed, or kept until the
    /// VM is down when this was the last session of a VM that stops with it.
    func endSession(of client: Client, with exit: Frame) {
        guard let session = client.session, !session.ended else { return }
        if let expected = session.archiveExpected {
            client.link.send(.archiveEnd(connectionSessionID, archiveReceived))
            if archiveReceived != expected {
                client.link.send(Frame(.fatal, text: "VM '\(plan.spec.name)' sent \(archiveReceived) of \(expected) archive bytes"))
            }
        }
        client.link.send(exit)
        end(session, of: client)
    }

    /// Copies what arrived on the archive port into the archive file.
    func receiveArchive() {
        guard let archive = vm.archive else { return }
        let n = read(archive.port, &buffer, buffer.count)
        guard n > 0 else { return }
        let overLimit = plan.archiveLimit.map { archiveReceived + UInt64(n) > $0 } ?? false
        if overLimit || !buffer.withUnsafeBytes({ writeAll(archive.file, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) {
            let error = overLimit
                ? PenError("the builder VM sent more than \(ByteSize.format(plan.archiveLimit ?? 0)) of root archive",
                           fix: "set PEN_MAX_ROOT_SIZE (e.g. 16G) if the profile's root really is that big")
                : PenError.system("cannot write the build's root archive")
            log("pen: \(error.message)")
            for client in sessions.clients where client.session?.request.kind == .archive {
                client.link.send(Frame(.fatal, text: error.message))
                flush(client)
            }
            vm.process.kill()
            return
        }
        archiveReceived += UInt64(n)
        for client in sessions.clients {
            if let session = client.session, let exit = session.heldExit, let expected = session.archiveExpected,
               archiveReceived >= expected {
                session.heldExit = nil
                endSession(of: client, with: exit)
                flush(client)
            }
        }
    }

    /// After QEMU exits: what is still buffered on the archive port.
    func drainArchive() {
        guard let archive = vm.archive else { return }
        setNonBlocking(archive.port)
        while true {
            let before = archiveReceived
            receiveArchive()
            if archiveReceived == before { break }
        }
        for client in sessions.clients {
            if let session = client.session, let exit = session.heldExit {
                session.heldExit = nil
                endSession(of: client, with: exit)
            }
        }
    }
}
