/// Hand-written corosync.conf samples in the styles found in the wild (Debian package default, pcs, Proxmox, legacy
/// udpu, IPv6, qdevice) plus deliberately odd formatting.
enum ConfFixtures {
    /// Debian's packaged default style: tabs, many comments, a single localhost node.
    static let debianDefault = """
        # Read the corosync.conf.5 manual page before changing anything.
        totem {
        \tversion: 2

        \t# The cluster name is required by DLM and written to shared LVM metadata.
        \tcluster_name: debian

        \t# crypto_cipher and crypto_hash protect and authenticate traffic.
        \t# Enabling them needs a shared key made with corosync-keygen,
        \t# and they only work with the knet transport.
        \tcrypto_cipher: none
        \tcrypto_hash: none
        }

        logging {
        \t# Source file and line in each message; rarely useful.
        \tfileline: off
        \t# Also log to standard error (handy with "corosync -f").
        \tto_stderr: yes
        \tto_logfile: yes
        \tlogfile: /var/log/corosync/corosync.log
        \tto_syslog: yes
        \tdebug: off
        \t#timestamp: hires
        \tlogger_subsys {
        \t\tsubsys: QUORUM
        \t\tdebug: off
        \t}
        }

        quorum {
        \t# Turn on the quorum subsystem, see votequorum.5
        \tprovider: corosync_votequorum
        }

        nodelist {
        \t# Adjust the node sections to the real cluster.

        \tnode {
        \t\t# Host name of the node
        \t\tname: node1
        \t\t# Unique node identifier
        \t\tnodeid: 1
        \t\t# First link address
        \t\tring0_addr: 127.0.0.1
        \t\t# knet allows up to 8 links
        \t\t#ring1_addr: 192.168.1.1
        \t}
        \t# ...
        }

        """

    /// pcs style: four-space indentation, ring address first, nodelist before quorum.
    static let pcsStyle = """
        totem {
            version: 2
            cluster_name: webfarm
            transport: knet
            crypto_cipher: aes256
            crypto_hash: sha256
            cluster_uuid: 6c1f0e0d5b7a4f6e9d3e2b1a09f8e7d6
        }

        nodelist {
            node {
                ring0_addr: 192.168.122.11
                name: web-a
                nodeid: 1
            }

            node {
                ring0_addr: 192.168.122.12
                name: web-b
                nodeid: 2
            }
        }

        quorum {
            provider: corosync_votequorum
            two_node: 1
        }

        logging {
            to_logfile: yes
            logfile: /var/log/cluster/corosync.log
            to_syslog: yes
            timestamp: on
        }

        """

    /// Proxmox VE style: nodelist first, two-space indentation, quorum_votes, link_mode, config_version.
    static let proxmoxStyle = """
        nodelist {
          node {
            name: pve1
            nodeid: 1
            quorum_votes: 1
            ring0_addr: 10.10.10.1
            ring1_addr: 172.16.0.1
          }
          node {
            name: pve2
            nodeid: 2
            quorum_votes: 1
            ring0_addr: 10.10.10.2
            ring1_addr: 172.16.0.2
          }
          node {
            name: pve3
            nodeid: 3
            quorum_votes: 1
            ring0_addr: 10.10.10.3
            ring1_addr: 172.16.0.3
          }
        }

        quorum {
          provider: corosync_votequorum
        }

        totem {
          cluster_name: homelab
          config_version: 7
          interface {
            linknumber: 0
          }
          interface {
            linknumber: 1
            knet_link_priority: 10
          }
          ip_version: ipv4-6
          link_mode: passive
          secauth: on
          version: 2
        }

        logging {
          debug: off
          to_syslog: yes
        }

        """

    /// corosync 2 era udpu with two rings (rrp) and an explicit token.
    static let udpuTwoRings = """
        compatibility: whitetank

        totem {
        \tversion: 2
        \tsecauth: off
        \tcluster_name: legacy
        \ttransport: udpu
        \trrp_mode: passive
        \ttoken: 5000
        \ttoken_retransmits_before_loss_const: 10
        \tinterface {
        \t\tringnumber: 0
        \t\tbindnetaddr: 10.0.1.0
        \t\tmcastport: 5405
        \t\tttl: 1
        \t}
        \tinterface {
        \t\tringnumber: 1
        \t\tbindnetaddr: 10.0.2.0
        \t\tmcastport: 5407
        \t}
        }

        nodelist {
        \tnode {
        \t\tring0_addr: 10.0.1.1
        \t\tring1_addr: 10.0.2.1
        \t\tnodeid: 1
        \t}
        \tnode {
        \t\tring0_addr: 10.0.1.2
        \t\tring1_addr: 10.0.2.2
        \t\tnodeid: 2
        \t}
        \tnode {
        \t\tring0_addr: 10.0.1.3
        \t\tring1_addr: 10.0.2.3
        \t\tnodeid: 3
        \t}
        }

        quorum {
        \tprovider: corosync_votequorum
        \texpected_votes: 3
        \twait_for_all: 1
        \tlast_man_standing: 1
        \tlast_man_standing_window: 20000
        }

        """

    /// IPv6 links, including a link-local address with a zone.
    static let ipv6Rings = """
        totem {
        \tversion: 2
        \tcluster_name: v6lab
        \ttransport: knet
        \tip_version: ipv6
        \ttoken: 3000
        }

        nodelist {
        \tnode {
        \t\tname: six-1
        \t\tnodeid: 11
        \t\tring0_addr: fd00::1
        \t\tring1_addr: fe80::5054:ff:fe12:3401%eth0
        \t}
        \tnode {
        \t\tname: six-2
        \t\tnodeid: 12
        \t\tring0_addr: fd00::2
        \t\tring1_addr: fe80::5054:ff:fe12:3402%eth0
        \t}
        }

        quorum {
        \tprovider: corosync_votequorum
        \ttwo_node: 1
        }

        """

    /// A quorum device (corosync-qnetd arbiter) with nested sections.
    static let qdevice = """
        totem {
            version: 2
            cluster_name: arbiter
            transport: knet
        }

        quorum {
            provider: corosync_votequorum
            auto_tie_breaker: 0
            device {
                model: net
                votes: 1
                timeout: 10000
                net {
                    host: qnetd.example.net
                    algorithm: ffsplit
                    tls: on
                    tie_breaker: lowest
                }
                heuristics {
                    mode: sync
                    exec_ping: /bin/ping -q -c 1 192.168.1.254
                }
            }
        }

        nodelist {
            node {
                name: arb-a
                nodeid: 1
                ring0_addr: arb-a.example.net
            }
            node {
                name: arb-b
                nodeid: 2
                ring0_addr: arb-b.example.net
            }
        }

        """

    /// Odd but valid formatting: no space before "{", colon before "{", `key:value`, `key :  value`, trailing
    /// blanks, blank lines holding only blanks, comments everywhere (indented, containing braces), a value with " # ".
    static let oddSpacing =
        "#!corosync.conf\n"
        + "   # indented comment with { and }\n"
        + "totem{\n"
        + "version:2\n"
        + "\t\t  cluster_name :  odd   \t\n"
        + "    transport:knet\n"
        + "  token_coefficient:\t650\n"
        + "\tcrypto_cipher: none # not a comment\n"
        + "  \t \n"
        + "\tinterface   {\n"
        + "\t\tlinknumber: 0\n"
        + "\t}   \n"
        + "}\n"
        + "\n"
        + "quorum: {\n"
        + "    # comment inside\n"
        + "    provider: corosync_votequorum\n"
        + "    expected_votes:3\n"
        + "  }\n"
        + "nodelist {\n"
        + "  node {\n"
        + "        nodeid:   1\n"
        + "        name:a\n"
        + "        ring0_addr:10.1.1.1\n"
        + "        ring0_addr: 10.9.9.9\n"
        + "  }\n"
        + "  node{\n"
        + "    name : b\n"
        + "    nodeid : 2\n"
        + "    ring0_addr : 10.1.1.2\n"
        + "  }\n"
        + "  node {\n"
        + "    name: c\n"
        + "    nodeid: 3\n"
        + "    ring0_addr: 10.1.1.3\n"
        + "  }\n"
        + "}\n"
        + "# last line comment\n"

    /// Rarely used sections and nodes with missing fields and a gap between links.
    static let unusualSections = """
        totem {
        \tversion: 2
        \tcluster_name: misc
        \ttoken: not-a-number
        }
        system {
        \tsched_rr: yes
        \tmove_to_root_cgroup: auto
        }
        resources {
        \tsystem {
        \t\tmemory_used {
        \t\t\trecovery: none
        \t\t\tpoll_period: 3000
        \t\t}
        \t}
        }
        uidgid {
        \tuid: hacluster
        \tgid: haclient
        }
        logging {
        \tlogging_daemon {
        \t\tname: corosync
        \t\tsubsys: CPG
        \t\tdebug: on
        \t}
        }
        nodelist {
        \tnode {
        \t\tring0_addr: 10.2.0.1
        \t\tring2_addr: 10.4.0.1
        \t}
        \tnode {
        \t\tname: second
        \t\tnodeid: x7
        \t\tring0_addr: 10.2.0.2
        \t}
        }

        """

    static var crlf: String { pcsStyle.confReplacingNewlines(with: "\r\n") }
    static var noTrailingNewline: String { String(ipv6Rings.dropLast()) }
    /// "\r\n" is a single Character, so dropping one drops the whole line ending.
    static var crlfNoTrailingNewline: String { String(crlf.dropLast()) }

    static let all: [(name: String, text: String)] = [
        ("debianDefault", debianDefault), ("pcsStyle", pcsStyle), ("proxmoxStyle", proxmoxStyle),
        ("udpuTwoRings", udpuTwoRings), ("ipv6Rings", ipv6Rings), ("qdevice", qdevice), ("oddSpacing", oddSpacing),
        ("unusualSections", unusualSections), ("crlf", crlf), ("noTrailingNewline", noTrailingNewline),
        ("crlfNoTrailingNewline", crlfNoTrailingNewline), ("empty", ""), ("onlyComments", "# a\n\n  # b"),
    ]
}

extension String {
    func confReplacingNewlines(with ending: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: ending)
    }
}
