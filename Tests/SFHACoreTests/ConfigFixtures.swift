/// The original sfha example configurations, verbatim (copied from shared/reference/original-configs so the tests
/// do not depend on paths). Each literal ends with the file's final newline.
enum ConfigFixtures {
    /// original-config.yml.example: `config/config.yml.example` (shipped by the Debian package).
    static let configExample = """
    # Configuration sfha - Exemple
    # Copiez ce fichier vers /etc/sfha/config.yml et adaptez-le

    cluster:
      name: mon-cluster
      quorum_required: true
      failover_delay_ms: 3000
      poll_interval_ms: 2000

    node:
      name: node1
      priority: 100

    vips:
      - name: vip-main
        ip: 192.168.1.100
        cidr: 24
        interface: eth0

    services:
      - name: nginx
        type: systemd
        unit: nginx
        critical: true
        restart_service: true
        healthcheck:
          type: http
          target: "http://127.0.0.1/"
          interval_ms: 5000
          timeout_ms: 2000
          failures_before_unhealthy: 3
          successes_before_healthy: 2

    constraints:
      - type: colocation
        resource: nginx
        with: vip-main
      - type: order
        first: vip-main
        then: nginx

    # stonith:
    #   enabled: true
    #   provider: proxmox
    #   proxmox:
    #     api_url: https://proxmox:8006
    #     token_id: root@pam!sfha
    #     token_secret: your-token-secret
    #     verify_ssl: false
    #     pve_node: pve01

    """

    /// original-readme-full.yml: the README's "Complete configuration".
    static let readmeFull = """
    # sfha v1.0.0 - Complete configuration

    cluster:
      name: production
      quorum_required: true
      failover_delay_ms: 3000
      poll_interval_ms: 5000

    node:
      name: node1
      priority: 100

    # VIPs
    vips:
      - name: vip-main
        ip: 192.168.1.100
        cidr: 24
        interface: eth0

    # Services
    services:
      - name: nginx
        type: systemd
        unit: nginx
        healthcheck:
          type: http
          target: "http://127.0.0.1/health"
          interval_ms: 5000
          timeout_ms: 2000
          failures_before_unhealthy: 3
          successes_before_healthy: 2

      - name: postgresql
        type: systemd
        unit: postgresql
        healthcheck:
          type: tcp
          target: "127.0.0.1:5432"

    # Constraints
    constraints:
      - type: colocation
        resource: nginx
        with: vip-main
      - type: order
        first: vip-main
        then: nginx

    # STONITH (optional)
    stonith:
      enabled: true
      provider: proxmox
      proxmox:
        api_url: https://192.168.1.100:8006
        token_id: root@pam!sfha
        token_secret_file: /etc/sfha/proxmox.secret
        verify_ssl: false
        pve_node: pve01
      nodes:
        node1:
          type: lxc
          vmid: 101
        node2:
          type: lxc
          vmid: 102
      safety:
        require_quorum: true
        min_delay_between_fence: 60
        max_fences_per_5min: 2
        startup_grace_period: 120

    logging:
      level: info

    """

    /// original-readme-quick.yml: the README's quick start.
    static let readmeQuick = """
    cluster:
      name: my-cluster
      quorum_required: true
      failover_delay_ms: 3000

    node:
      name: node1
      priority: 100

    # Floating VIP
    vips:
      - name: vip-web
        ip: 192.168.1.100
        cidr: 24
        interface: eth0

    # Managed service
    services:
      - name: nginx
        type: systemd
        unit: nginx
        healthcheck:
          type: http
          target: "http://127.0.0.1/health"
          interval_ms: 5000
          failures_before_unhealthy: 3

    # Constraints
    constraints:
      - type: colocation
        resource: nginx
        with: vip-web

    """
}
