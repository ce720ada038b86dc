extension SFHAConfiguration {
    /// A commented configuration using every key (`sfha config example`). It loads without warnings.
    /// Keep it in sync with Docs/Configuration.md.
    public static let exampleYAML = #"""
    # /etc/sfha/config.yml — sfha configuration (every key shown; see Docs/Configuration.md).
    # Durations: a bare number is in the key's unit (milliseconds for *_ms keys, seconds otherwise),
    # or write a unit: 500ms, 5s, 2m, 1h, 1m30s.

    cluster:
      name: production                # corosync cluster name (display); default sfha-cluster
      quorum_required: true           # run resources only in a quorate partition; default true
      failover_delay_ms: 0            # extra wait after a holder leaves before taking its groups; default 0
      maintenance: false              # true: watch only, never start/stop/move anything; default false
      node_priorities:                # cluster-wide node preference (higher wins); beats node.priority
        node1: 200
        node2: 100
      # poll_interval_ms is deprecated: sfha reacts to corosync events (accepted with a warning).

    node:
      name: node1                     # required; must equal this node's name in corosync.conf
      priority: 100                   # 0–1000, default 100; published at runtime

    logging:
      level: info                     # debug, info, warn, error; default info

    # Floating IPs. ip takes "address" or "address/prefix"; cidr defaults to 24 (IPv4) or 64 (IPv6).
    vips:
      - name: vip-web
        ip: 192.168.1.100
        cidr: 24
        interface: eth0               # default eth0
      - name: vip-web6
        ip: 2001:db8::100/64
        interface: eth0
        group: web                    # per-resource group membership (alternative to groups[].vips)
      - name: vip-db
        ip: 192.168.1.101/24

    # Managed systemd units, started in this order within their group (after the group's VIPs).
    services:
      - name: nginx
        type: systemd                 # only systemd
        unit: nginx.service           # default: the name; systemctl adds .service when there is no suffix
        critical: true                # when it fails for good, move its group to another node
        restart_service: true         # restart in place first (failure_policy.max_restarts times)
        failure_policy:
          max_restarts: 3             # default 3 with restart_service: true, 0 without
          window: 60s                 # restarts counted over this window; default 60s
          failure_timeout: 10m        # after a failure the node may host the group again after this; default never
        healthcheck:
          type: http                  # http, https, tcp, systemd, exec; default tcp
          target: "http://127.0.0.1/health"
          interval_ms: 5000           # or interval (seconds); default 5000 ms
          timeout_ms: 2000            # or timeout (seconds); default 2000 ms
          failures_before_unhealthy: 3
          successes_before_healthy: 2
      - name: app
        unit: app@blue.service
        group: web
        healthcheck:
          type: https
          target: "https://[::1]:8443/ready"
          verify_certificate: false   # https only; default true
          interval: 10s
          timeout: 3s
      - name: postgresql
        unit: postgresql
        critical: true
        healthcheck:
          type: tcp
          target: "127.0.0.1:5432"    # host:port, or [ipv6]:port
      - name: exporter
        healthcheck:
          type: exec
          command: [/usr/local/bin/check-exporter, --quiet]   # argument list, never a shell string
      - name: backup-agent
        healthcheck:
          type: systemd               # target defaults to the service's unit

    # Resource groups: each group runs on one node. Resources in no group form the group "default".
    groups:
      - name: web
        vips: [vip-web]
        services: [nginx]
        priorities:                   # per-group node preference; beats cluster.node_priorities
          node2: 300
        failback: true                # move back to the preferred node when it returns; default false
        failback_delay: 2m            # default 0
        colocate_with: []             # groups this one must run with
        start_after: [db]             # groups started before this one
      - name: db
        vips: [vip-db]
        services: [postgresql]

    # Node health checks (run on every node).
    health_checks:
      - name: uplink
        type: tcp
        target: "192.168.1.1:53"
        interval: 10                  # seconds (interval_ms for milliseconds); default 10 s
        timeout: 5                    # default 5 s
        failures_before_unhealthy: 3
        successes_before_healthy: 2
        critical: true                # unhealthy: this node gives up every group
        restart_service: systemd-networkd.service   # restarted once before giving up
      - name: disk
        type: exec
        command: [/usr/local/bin/check-disk, /var/lib/postgresql]

    # Constraints between VIPs, services and node health checks.
    constraints:
      - type: colocation              # exporter runs where nginx runs (groups "default" and "web" colocated)
        resource: exporter
        with: nginx
      - type: colocation              # the db group needs a healthy "disk" check on its node
        resource: postgresql
        with: disk
      - type: order                   # backup-agent starts after exporter (same group: service order)
        first: exporter
        then: backup-agent

    stonith:
      enabled: false                  # default false
      provider: proxmox               # proxmox or webhook; default proxmox
      proxmox:
        api_url: https://pve01:8006
        token_id: root@pam!sfha
        token_secret_file: /etc/sfha/proxmox.secret   # 0600; or token_secret: <secret> (the file wins)
        verify_ssl: true              # default false (as the original)
        pve_node: pve01               # default pve
      webhook:
        fence_url: "https://fence.example.com/{{node}}/{{action}}"
        unfence_url: "https://fence.example.com/{{node}}/on"
        status_url: "https://fence.example.com/{{node}}/status"
        method: POST                  # GET, POST, PUT, DELETE; default POST
        headers:
          Authorization: "Bearer change-me"
        body_template: '{"node": "{{node}}", "action": "{{action}}"}'
        timeout: 30                   # seconds; default 30
        verify_ssl: true              # default true
      nodes:                          # only listed nodes are ever fenced
        node1:
          type: lxc                   # lxc or qemu; default lxc
          vmid: 101
        node2:
          type: qemu
          vmid: 102
      safety:
        require_quorum: true          # default true
        min_delay_between_fence: 60   # seconds; default 60
        max_fences_per_5min: 2        # default 2
        startup_grace_period: 120     # seconds; default 120
        fence_delay_on_node_left: 10  # seconds; default 10
    """#
}

extension SFHAConfiguration {
    /// The shortest useful configuration (`sfha config example --minimal`): one VIP and one service, kept together
    /// on one node. It loads without warnings; every other key keeps its default.
    public static let minimalExampleYAML = #"""
    # /etc/sfha/config.yml — a minimal sfha configuration: one floating IP and one service, always on the same
    # node. Every key: 'sfha config example'; reference: Docs/Configuration.md. Check it: 'sfha config check FILE'.

    cluster:
      name: production          # the corosync cluster name (display)

    node:
      name: node1               # this node's name in corosync.conf: the only line that differs between nodes

    vips:
      - name: vip-web
        ip: 192.168.1.100/24    # a free address on the nodes' network
        interface: eth0

    services:
      - name: nginx             # a systemd unit, started after the VIP on the node that holds it
        critical: true          # if it fails there, the VIP and the service move to another node
    """#
}
