import ControlProtocol
import Mobility
import Testing

/// The phases the migration's state machines name are the ones the coordinator and the judge
/// know (`ControlProtocol.MigrationPhase`): the events between them are a contract, not text
/// each side spells its own way.
struct MigrationPhaseContractTests {
    @Test func everyPhaseOfEitherSideIsAMigrationPhase() {
        let named =
            MigrationSourceStateMachine.Phase.allCases.map(\.rawValue)
            + MigrationTargetStateMachine.Phase.allCases.map(\.rawValue)
        #expect(named.filter { MigrationPhase(rawValue: $0) == nil }.isEmpty, "\(named)")
        // And the contract names nothing either side could not say (failover is the target's
        // takeover without the source's commit).
        let said = Set(named).union([MigrationPhase.failover.rawValue])
        #expect(MigrationPhase.allCases.filter { !said.contains($0.rawValue) }.isEmpty)
    }
}
