import SFHACore

// What sfha prints in the operator's language when the text comes from sfhad or SFHACore as data (placement reasons,
// the daemon's known warnings). English is SFHACore's own wording, so both languages say the same thing.

extension Ineligibility {
    func text(_ language: Language) -> String {
        guard language == .fr else { return rawValue }
        return switch self {
        case .notMember: "hors de l'appartenance avec quorum"
        case .daemonDown: "sfhad ne tourne pas"
        case .standby: "en veille"
        case .unhealthy: "contrôles de santé du nœud en échec"
        case .notProven: "pas prouvé dans l'anneau avec quorum"
        case .blocked: "au-delà de sa limite d'échecs pour ce groupe"
        case .movedAway: "groupe éloigné par l'opérateur"
        case .banned: "banni du groupe par l'opérateur"
        case .cannotApply: "ne peut pas appliquer les ressources du groupe (voir son rapport dans sfha status)"
        }
    }
}

extension PlacementReason {
    func text(_ language: Language) -> String {
        guard language == .fr else { return description }
        return switch self {
        case .noQuorum: "pas de quorum : rien ne peut tourner"
        case .maintenance: "mode maintenance : placement figé"
        case .kept: "le détenteur actuel est toujours éligible (stabilité)"
        case .previousHolder: "il détenait le groupe en dernier et reste éligible (stabilité)"
        case .highestPriority: "nœud éligible de plus haute priorité"
        case .failback(let from): "retour de \(from) vers le nœud de plus haute priorité"
        case .requested: "demande de l'opérateur"
        case .colocated(let group): "colocalisé avec le groupe \(group)"
        case .waitingForTakeover(let holder, let until):
            "attente jusqu'à \(until) avant de reprendre le groupe de \(holder), sorti de l'appartenance"
        case .waitingForRelease(let holder, let next): "attente que \(holder) le libère avant que \(next) le prenne"
        case .waitingForOrder(let group): "attente que le groupe \(group) soit placé d'abord"
        case .waitingForReports(let nodes): "attente de l'état des nœuds \(nodes.map(String.init).joined(separator: ", "))"
        case .waitingForFence(let until):
            "attente jusqu'à \(until), quand chaque nœud hors de cet anneau aura perdu ses VIP à coup sûr"
        case .noEligibleNode(let why):
            why.isEmpty
                ? "aucun nœud dans l'appartenance"
                : "aucun nœud éligible : " + why.keys.sorted().map { "\($0) \(why[$0]!.text(.fr))" }.joined(separator: ", ")
        }
    }
}

extension MoveCause {
    func text(_ language: Language) -> String {
        guard language == .fr else { return description }
        return switch self {
        case .placed(let reason): reason.text(.fr)
        case .holderLeft(let node): "\(node) a quitté l'appartenance (nœud perdu ou coupé)"
        case .holderDaemonStopped(let node): "sfhad s'est arrêté sur \(node)"
        case .holderIneligible(let node, let why): "\(node) ne peut plus le détenir : \(why.text(.fr))"
        }
    }
}

enum DaemonText {
    /// What sfhad says when no placement was computed yet (`DaemonStatus.Group.reason` without `why`).
    static let notDecided = "not decided yet"

    /// A group's reason: from `why` when sfhad sent it, else its English text (an older sfhad).
    static func reason(_ group: DaemonStatus.Group, _ language: Language) -> String {
        if let why = group.why { return why.text(language) }
        if language == .fr && group.reason == notDecided { return "pas encore décidé" }
        return group.reason
    }

    /// sfhad's warnings it is known to give, in French; any other is shown as sfhad wrote it.
    static func warning(_ warning: String, _ language: Language) -> String {
        guard language == .fr else { return warning }
        if warning == TwoNodeWarning.text { return twoNodeFrench }
        if warning == "stonith.enabled: \(StonithConfiguration.notImplementedWarning)" { return "stonith.enabled: \(stonithFrench)" }
        // "revision N is committed in memory only: could not write PATH: ERROR" (DocumentStore).
        if let range = warning.range(of: " is committed in memory only: could not write "), warning.hasPrefix("revision ") {
            let revision = warning[warning.index(warning.startIndex, offsetBy: "revision ".count)..<range.lowerBound]
            return "la révision \(revision) n'est validée qu'en mémoire : impossible d'écrire "
                + warning[range.upperBound...] + " (disque plein ou en lecture seule ? elle est écrite au prochain commit)"
        }
        return warning
    }

    /// A configuration warning's message, in French when it is one sfha translates.
    static func configurationMessage(_ message: String, _ language: Language) -> String {
        guard language == .fr else { return message }
        if message == TwoNodeWarning.text { return twoNodeFrench }
        return ConfigurationFrench.translate(message)
    }

    static let twoNodeFrench =
        "cluster à deux nœuds sans fencing : corosync garde les deux moitiés d'une partition avec quorum, donc une "
        + "coupure réseau peut mettre une VIP sur les deux nœuds — le placement ne peut pas s'en protéger ; ajoutez un "
        + "troisième nœud (ou un qdevice), car sfha ne fait pas encore de fencing ; les changements de "
        + "configuration exigent les deux nœuds présents"

    static let stonithFrench =
        "accepté, pas encore implémenté : aucun nœud n'est isolé (fencing) — sfha n'éteint jamais un nœud parti ; la "
        + "sûreté repose sur le quorum et la preuve d'anneau seuls (mettez enabled: false pour faire taire cet avertissement)"
}
