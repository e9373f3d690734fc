import LinkEmulation

/// The link profiles a scenario may name: every profile file found in the folders searched,
/// in their order, the first folder's profile winning over a later one of the same name.
/// A scenario naming a profile that is not here is an error, never a perfect link.
public struct ProfileCatalogue: Sendable, Equatable {
    /// A profile and the file it came from.
    public struct Entry: Sendable, Equatable {
        public var profile: LinkProfile
        public var file: String
    }

    /// The folders searched, in order (for messages and the report).
    public private(set) var folders: [String]
    public private(set) var entries: [String: Entry] = [:]

    public init(folders: [String] = []) { self.folders = folders }

    /// Adds a profile read from `file`; false (and nothing changes) when a folder searched
    /// earlier already gave one of that name.
    @discardableResult
    public mutating func add(_ named: NamedProfile, file: String) -> Bool {
        guard entries[named.name] == nil else { return false }
        entries[named.name] = Entry(profile: named.profile, file: file)
        return true
    }

    public subscript(name: String) -> Entry? { entries[name] }

    /// Why `name` is not a profile, for a diagnostic.
    func unknown(_ name: String) -> String {
        let searched =
            folders.isEmpty ? "no profile folders were searched" : "searched " + folders.joined(separator: ", ")
        let known = entries.keys.sorted()
        return "unknown link profile '\(name)' (\(searched); "
            + (known.isEmpty ? "no profiles found" : "known: \(known.joined(separator: ", "))") + ")"
    }
}

extension Scenario {
    /// Every profile name the scenario uses: for every peer, per peer and in `link` steps.
    public var profileNames: Set<String> {
        var names = links.names
        for step in steps {
            if case .link(_, let profile, _) = step.action { names.insert(profile) }
        }
        return names
    }
}
