@testable import SFHACore
import Testing

@Suite("Resource groups and constraints", .timeLimit(.minutes(2)))
struct ConfigGroupTests {
    static let resources = """
        node: {name: n1}
        vips:
          - {name: vip-web, ip: 10.0.0.10}
          - {name: vip-db, ip: 10.0.0.11}
        services:
          - {name: nginx}
          - {name: app}
          - {name: postgresql}
          - {name: cron}

        """

    @Test func explicitGroups() throws {
        let config = try ConfigTest.load(Self.resources + """
            groups:
              - name: web
                vips: [vip-web]
                services: [app, nginx]
                priorities: {n1: 300, n2: 50}
                failback: true
                failback_delay: 90
              - name: db
                vips: [vip-db]
                services: [postgresql]
                colocate_with: [web]
                start_after: [web]

            """)
        #expect(config.warnings.isEmpty)
        #expect(config.cluster.groups.map(\.name) == ["web", "db", "default"])
        let web = try #require(config.cluster.group(named: "web"))
        #expect(web.vips.map(\.name) == ["vip-web"])
        // Start order inside a group = the order of the top-level services list.
        #expect(web.services.map(\.name) == ["nginx", "app"])
        #expect(web.priorities == ["n1": 300, "n2": 50])
        #expect(web.failback && web.failbackDelay == .seconds(90))
        let db = try #require(config.cluster.group(named: "db"))
        #expect(db.resourceNames == ["vip-db", "postgresql"])
        #expect(db.colocatedWith == ["web"] && db.startAfter == ["web"])
        #expect(!db.failback && db.failbackDelay == .zero)
        // Resources in no group: the default group.
        let fallback = try #require(config.cluster.group(named: "default"))
        #expect(fallback.services.map(\.name) == ["cron"] && fallback.vips.isEmpty)
        #expect(config.cluster.group(containing: "postgresql")?.name == "db")
        #expect(config.cluster.group(containing: "cron")?.name == "default")
    }

    @Test func perResourceGroupKey() throws {
        let config = try ConfigTest.load("""
            node: {name: n1}
            vips:
              - {name: vip-web, ip: 10.0.0.10, group: web}
              - {name: vip-db, ip: 10.0.0.11}
            services:
              - {name: nginx, group: web}
              - {name: postgresql, group: db}
            groups:
              - name: db
                vips: [vip-db]
                failback: true

            """)
        // Declared groups first, then groups created by `group:` keys, in order of appearance.
        #expect(config.cluster.groups.map(\.name) == ["db", "web"])
        #expect(config.cluster.group(named: "web")?.resourceNames == ["vip-web", "nginx"])
        #expect(config.cluster.group(named: "db")?.resourceNames == ["vip-db", "postgresql"])
        #expect(config.cluster.group(named: "db")?.failback == true)
        #expect(config.cluster.group(named: "web")?.failback == false)
    }

    @Test func explicitDefaultGroupSetsTheOptionsOfUngroupedResources() throws {
        let config = try ConfigTest.load(Self.resources + """
            groups:
              - name: default
                priorities: {n2: 500}

            """)
        #expect(config.cluster.groups.count == 1)
        let group = try #require(config.cluster.groups.first)
        #expect(group.name == "default" && group.priorities == ["n2": 500])
        #expect(group.resourceNames == ["vip-web", "vip-db", "nginx", "app", "postgresql", "cron"])
    }

    @Test func membershipConflicts() {
        let errors = ConfigTest.errors("""
            node: {name: n1}
            vips:
              - {name: v1, ip: 10.0.0.10, group: b}
            services:
              - {name: s1, group: a}
              - {name: s2}
            health_checks:
              - {name: chk, type: tcp, target: "h:1"}
            groups:
              - name: a
                services: [s1, s2]
              - name: b
                services: [s2, ghost, chk]
                vips: [s1]
              - name: a
              - name: "bad group"
              - name: c
                vips: [v1]

            """)
        #expect(errors == [
            "/etc/sfha/config.yml:3:38: vips[0].group: \"v1\" is already in group \"c\" (groups[4].vips[0]): a resource belongs to one group",
            "/etc/sfha/config.yml:13:16: groups[1].services[0]: \"s2\" is already in group \"a\" (groups[0].services[1]): a resource belongs to one group",
            "/etc/sfha/config.yml:13:20: groups[1].services[1]: there is no service named \"ghost\"",
            "/etc/sfha/config.yml:13:27: groups[1].services[2]: \"chk\" is a health check (groups hold VIPs and services; use a colocation constraint to require a check)",
            "/etc/sfha/config.yml:14:12: groups[1].vips[0]: \"s1\" is a service: list it under services",
            "/etc/sfha/config.yml:15:11: groups[2].name: \"a\" is already the name of groups[0] (line 10)",
            "/etc/sfha/config.yml:16:11: groups[3].name: \"bad group\" is not a valid name: a name may only contain letters, digits, '.', '_', ':', '@' and '-'",
        ])
    }

    @Test func groupReferences() {
        let errors = ConfigTest.errors(Self.resources + """
            groups:
              - {name: web, vips: [vip-web], colocate_with: [web, nowhere], start_after: [default]}

            """)
        #expect(errors == [
            "/etc/sfha/config.yml:11:50: groups[0].colocate_with[0]: a group cannot refer to itself",
            "/etc/sfha/config.yml:11:55: groups[0].colocate_with[1]: there is no group named \"nowhere\"",
        ])
        // `default` exists here (ungrouped resources), so start_after: [default] is fine; without them it is not.
        #expect(ConfigTest.errors("""
            node: {name: n1}
            services: [{name: s, group: g}]
            groups: [{name: g, start_after: [default]}]

            """) == ["/etc/sfha/config.yml:3:34: groups[0].start_after[0]: there is no group named \"default\""])
    }

    @Test func originalConstraintsMapOntoTheDefaultGroup() throws {
        // Original semantics: everything in one group; VIP-before-service order is true by construction and
        // colocation inside a group is too.
        let config = try ConfigTest.load(Self.resources + """
            constraints:
              - {type: colocation, resource: nginx, with: vip-web}
              - {type: order, first: vip-web, then: nginx}
              - {type: order, first: postgresql, then: app}
              - {type: order, first: vip-db, then: vip-web}

            """)
        let group = try #require(config.cluster.groups.first)
        #expect(config.cluster.groups.count == 1)
        #expect(group.services.map(\.name) == ["nginx", "postgresql", "app", "cron"])
        #expect(group.vips.map(\.name) == ["vip-db", "vip-web"])
        #expect(group.colocatedWith.isEmpty && group.startAfter.isEmpty)
        #expect(config.cluster.constraints.count == 4)
    }

    @Test func constraintsAcrossGroups() throws {
        let config = try ConfigTest.load(Self.resources + """
            health_checks:
              - {name: disk, type: exec, command: [/bin/true]}
            groups:
              - {name: web, vips: [vip-web], services: [nginx, app]}
              - {name: db, vips: [vip-db], services: [postgresql]}
            constraints:
              - {type: colocation, resource: app, with: postgresql}
              - {type: order, first: postgresql, then: nginx}
              - {type: colocation, resource: postgresql, with: disk}
              - {type: colocation, resource: disk, with: cron}

            """)
        let web = try #require(config.cluster.group(named: "web"))
        let db = try #require(config.cluster.group(named: "db"))
        let fallback = try #require(config.cluster.group(named: "default"))
        // colocation between resources of different groups: the resource's group follows the other's.
        #expect(web.colocatedWith == ["db"])
        #expect(db.colocatedWith.isEmpty)
        // order across groups: startAfter.
        #expect(web.startAfter == ["db"])
        // colocation with a node health check (either side): the group requires the check.
        #expect(db.requiredChecks == ["disk"])
        #expect(fallback.requiredChecks == ["disk"])
        #expect(web.requiredChecks.isEmpty)
    }

    @Test func constraintErrors() {
        let errors = ConfigTest.errors(Self.resources + """
            health_checks:
              - {name: disk, type: exec, command: [/bin/true]}
              - {name: net, type: tcp, target: "gw:53"}
            constraints:
              - {type: order, first: nginx, then: vip-web}
              - {type: order, first: disk, then: nginx}
              - {type: colocation, resource: disk, with: net}
              - {type: colocation, resource: nginx, with: nginx}
              - {type: colocation, resource: nobody, with: nothing}
              - {type: colocation, resource: nginx}
              - {first: nginx, then: app}
              - {type: location, resource: nginx, with: app}

            """)
        #expect(errors == [
            "/etc/sfha/config.yml:14:39: constraints[0].then: \"vip-web\" is a VIP of group \"default\", whose VIPs always start before its services: put \"nginx\" and \"vip-web\" in different groups to start the service first",
            "/etc/sfha/config.yml:15:26: constraints[1].first: \"disk\" is a health check: order constraints apply to VIPs and services",
            "/etc/sfha/config.yml:16:34: constraints[2].resource: \"disk\" and \"net\" are both health checks: colocation needs a VIP or a service",
            "/etc/sfha/config.yml:17:47: constraints[3].with: a constraint needs two different names",
            "/etc/sfha/config.yml:18:34: constraints[4].resource: there is no VIP, service or health check named \"nobody\"",
            "/etc/sfha/config.yml:18:48: constraints[4].with: there is no VIP, service or health check named \"nothing\"",
            "/etc/sfha/config.yml:19:5: constraints[5].with: is required (the VIP, service or health check it follows)",
            "/etc/sfha/config.yml:20:5: constraints[6].type: is required (colocation or order)",
            "/etc/sfha/config.yml:21:12: constraints[7].type: \"location\" is not a constraint type: expected colocation or order",
        ])
    }

    @Test func cyclesAreErrors() {
        // Service order cycle inside a group.
        #expect(ConfigTest.errors(Self.resources + """
            constraints:
              - {type: order, first: nginx, then: app}
              - {type: order, first: app, then: cron}
              - {type: order, first: cron, then: nginx}

            """) == [
            "/etc/sfha/config.yml:13:38: constraints[2].then: the service start order has a cycle: \"nginx\" → \"app\" → \"cron\" → \"nginx\" (→: starts before)",
        ])
        // VIP order cycle.
        #expect(ConfigTest.errors(Self.resources + """
            constraints:
              - {type: order, first: vip-web, then: vip-db}
              - {type: order, first: vip-db, then: vip-web}

            """) == [
            "/etc/sfha/config.yml:12:40: constraints[1].then: the VIP start order has a cycle: \"vip-web\" → \"vip-db\" → \"vip-web\" (→: starts before)",
        ])
        // Group start order cycle built from a constraint and a start_after.
        #expect(ConfigTest.errors(Self.resources + """
            groups:
              - {name: web, services: [nginx], start_after: [db]}
              - {name: db, services: [postgresql]}
            constraints:
              - {type: order, first: nginx, then: postgresql}

            """) == [
            "/etc/sfha/config.yml:11:50: groups[0].start_after[0]: the start order of groups has a cycle: \"web\" → \"db\" → \"web\" (→: starts before)",
        ])
        // Colocation cycle between groups.
        #expect(ConfigTest.errors(Self.resources + """
            groups:
              - {name: web, services: [nginx], colocate_with: [db]}
              - {name: db, services: [postgresql]}
            constraints:
              - {type: colocation, resource: postgresql, with: nginx}

            """) == [
            "/etc/sfha/config.yml:14:52: constraints[0].with: group colocation has a cycle: \"web\" → \"db\" → \"web\" (→: runs with): put these resources in one group instead",
        ])
    }

    @Test func priorityPrecedence() throws {
        let config = try ConfigTest.load(Self.resources + """
            cluster:
              node_priorities: {n1: 200, n2: 150}
            groups:
              - {name: web, services: [nginx], priorities: {n2: 900}}

            """)
        let web = try #require(config.cluster.group(named: "web"))
        let fallback = try #require(config.cluster.group(named: "default"))
        #expect(config.cluster.nodePriorities == ["n1": 200, "n2": 150])
        // group priorities > cluster.node_priorities > published node.priority > 100.
        #expect(config.cluster.priority(of: "n2", in: web, published: 10) == 900)
        #expect(config.cluster.priority(of: "n2", in: fallback, published: 10) == 150)
        #expect(config.cluster.priority(of: "n3", in: fallback, published: 10) == 10)
        #expect(config.cluster.priority(of: "n3", in: fallback, published: nil) == 100)
    }

    @Test func priorityMapsAreValidated() {
        #expect(ConfigTest.errors(Self.resources + """
            cluster:
              node_priorities: {"bad node": 1, n2: 1001, n3: x, n4: }
            groups:
              - {name: web, services: [nginx], priorities: [n1]}

            """) == [
            "/etc/sfha/config.yml:11:21: cluster.node_priorities.bad node: \"bad node\" is not a valid node name: a node name may only contain letters, digits, '.', '_' and '-'",
            "/etc/sfha/config.yml:11:40: cluster.node_priorities.n2: 1001 is out of range (expected 0 to 1000)",
            "/etc/sfha/config.yml:11:50: cluster.node_priorities.n3: \"x\" is not an integer",
            "/etc/sfha/config.yml:11:53: cluster.node_priorities.n4: a priority is required (an integer from 0 to 1000)",
            "/etc/sfha/config.yml:13:48: groups[0].priorities: expected a mapping (key: value lines), found a list",
        ])
    }
}
