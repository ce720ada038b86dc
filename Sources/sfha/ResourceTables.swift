import SFHACore

/// The text of `sfha resources`, `health`, `constraints`, `vip list` and `service list`, in the operator's language
/// (pure: the commands print it, the tests read it).
enum ResourceTables {
    static func resources(_ report: ResourcesReport, _ language: Language) -> String {
        let fr = language == .fr
        var text = CLI.table(
            [fr ? ["VIP", "ADRESSE", "INTERFACE", "GROUPE", "DÉTENTEUR", "ICI"] : ["VIP", "ADDRESS", "DEV", "GROUP", "HOLDER", "HERE"]]
                + report.vips.map {
                    [$0.name, $0.address, $0.interface, $0.group, $0.holder ?? "-", $0.presentHere ? (fr ? "présente" : "up") : "-"]
                })
        guard !report.services.isEmpty else { return text }
        text += "\n"
        text += CLI.table(
            [fr ? ["SERVICE", "UNITÉ", "GROUPE", "DÉTENTEUR", "ICI"] : ["SERVICE", "UNIT", "GROUP", "HOLDER", "HERE"]]
                + report.services.map { [$0.name, $0.unit, $0.group, $0.holder ?? "-", $0.activeHere ? (fr ? "actif" : "active") : "-"] })
        return text
    }

    static func vips(_ report: ResourcesReport, _ language: Language) -> String {
        let fr = language == .fr
        return CLI.table(
            [fr ? ["NOM", "ADRESSE", "INTERFACE", "GROUPE", "DÉTENTEUR"] : ["NAME", "ADDRESS", "DEV", "GROUP", "HOLDER"]]
                + report.vips.map { [$0.name, $0.address, $0.interface, $0.group, $0.holder ?? "-"] })
    }

    static func services(_ report: ResourcesReport, _ language: Language) -> String {
        let fr = language == .fr
        return CLI.table(
            [fr ? ["NOM", "UNITÉ", "GROUPE", "DÉTENTEUR", "ACTIF ICI"] : ["NAME", "UNIT", "GROUP", "HOLDER", "ACTIVE HERE"]]
                + report.services.map {
                    [$0.name, $0.unit, $0.group, $0.holder ?? "-", $0.activeHere ? (fr ? "oui" : "yes") : (fr ? "non" : "no")]
                })
    }

    static func health(_ report: HealthReport, _ language: Language) -> String {
        let fr = language == .fr
        var text = fr
            ? "Nœud \(report.node) : \(report.nodeHealthy ? "sain" : "EN ÉCHEC")\n"
            : "Node \(report.node): \(report.nodeHealthy ? "healthy" : "UNHEALTHY")\n"
        if report.checks.isEmpty {
            text += fr ? "Aucun contrôle de santé ne tourne ici.\n" : "No health check runs here.\n"
        } else {
            text += CLI.table(
                [fr ? ["CONTRÔLE", "ÉTAT", "SONDAGES", "ÉCHECS", "DERNIER"] : ["CHECK", "STATE", "PROBES", "FAILURES", "LAST"]]
                    + report.checks.map {
                        [$0.name, $0.healthy ? (fr ? "sain" : "healthy") : (fr ? "en échec" : "unhealthy"), String($0.probes),
                         String($0.consecutiveFailures), $0.lastResult ?? "-"]
                    })
        }
        if !report.failures.isEmpty {
            text += CLI.table(
                [fr
                    ? ["GROUPE", "SERVICE", "UNITÉ", "ÉCHECS", "REDÉMARRAGES", "ÉTAT", "RAISON"]
                    : ["GROUP", "SERVICE", "UNIT", "FAILURES", "RESTARTS", "STATE", "REASON"]]
                    + report.failures.map {
                        [$0.group, $0.service, $0.unit, String($0.failures), String($0.restartsInWindow),
                         $0.failed ? (fr ? "en échec" : "failed") : "ok", $0.lastReason]
                    })
        }
        return text
    }

    static func constraints(_ report: ConstraintsReport, _ language: Language) -> String {
        let fr = language == .fr
        var text = CLI.table(
            [fr
                ? ["GROUPE", "RESSOURCES", "AVEC", "APRÈS", "CONTRÔLES REQUIS"]
                : ["GROUP", "RESOURCES", "WITH", "AFTER", "NEEDS CHECKS"]]
                + report.groups.map {
                    [$0.name, $0.resources.joined(separator: ","), $0.colocatedWith.joined(separator: ",").ifEmpty("-"),
                     $0.startAfter.joined(separator: ",").ifEmpty("-"), $0.requiredChecks.joined(separator: ",").ifEmpty("-")]
                })
        for constraint in report.constraints { text += "  \(constraint)\n" }
        return text
    }
}
