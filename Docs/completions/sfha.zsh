#compdef sfha

__sfha_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__sfha_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __sfha_complete "${completions[@]:0:-1}"
    fi
}

__sfha_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_sfha() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'status:Show the cluster: nodes, quorum, each group'\''s holder and why, VIPs, services, health.'
            'resources:VIPs and services: their group, holder, and whether they are up on this node.'
            'health:Health checks running on this node and the service failures counted here.'
            'constraints:Groups and the colocation/order rules between them, as sfhad applies them.'
            'standby:Put a node (this one by default) in standby: it gives up its groups and takes none.'
            'unstandby:Take a node (this one by default) out of standby: it may hold groups again.'
            'failover:Move a group (every group when none is named) to another node now, or keep it off a node.'
            'maintenance:Freeze (on) or resume (off) placement cluster-wide; nothing is started, stopped or moved while on.'
            'resource:Resource operations.'
            'vip:Add, remove or list floating IPs (cluster-wide; corosync is not touched).'
            'service:Add, remove or list managed systemd services (cluster-wide).'
            'reload:Make sfhad re-read its configuration file (as SIGHUP, but asks before removing anything).'
            'config:Check or print sfha configuration.'
            'simulate:Run sfhad'\''s real state machine on simulated nodes and print the timeline.'
            'logs:sfhad'\''s recent log lines (from the daemon; --journal reads journald instead).'
            'history:What happened, as this node saw it: group moves, failures, operator commands (who, what, the answer).'
            'init:Create a new cluster on this bare node: WireGuard mesh, membership record, corosync, sfhad.'
            'token:Make a single-use join token for a new node (give it to '\''sfha join'\'' on that node).'
            'join:Join this bare node to a cluster with a token from '\''sfha token'\''.'
            'mesh:The WireGuard mesh (wg-sfha) of a cluster built by '\''sfha init'\''.'
            'node:Change the cluster'\''s membership.'
            'propagate:Repair: make every reachable member'\''s corosync.conf and WireGuard peers match the membership record.'
            'leave:This node leaves the cluster (run on it).'
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        status|resources|health|constraints|standby|unstandby|failover|maintenance|resource|vip|service|reload|config|simulate|logs|history|init|token|join|mesh|node|propagate|leave|help)
            "_sfha_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_status() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON instead of text.]'
        '--watch[Keep showing the status, refreshed every --interval (Ctrl-C ends it); with --json, one object per line.]'
        '--interval[Seconds between refreshes with --watch.]:interval:'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_resources() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_health() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_constraints() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_standby() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':node:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_unstandby() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':node:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_failover() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':group:'
        '--to[The node to move it to.]:to:'
        '--ban[Keep the group off this node until --clear.]:ban:'
        '--clear[Lift the group'\''s bans (every group'\''s when none is named).]'
        '--yes[Do not ask for confirmation.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_maintenance() {
    local -i ret=1
    local -ar _mode=('on' 'off')
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':mode:{__sfha_complete "${_mode[@]}"}'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_resource() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'cleanup:Forget service failures so that a blocked group may run again (on every node, or one).'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        cleanup)
            "_sfha_resource_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_resource_cleanup() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':group:'
        '--node[Only on this node.]:node:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_vip() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Add a VIP; the group'\''s holder brings it up at once.'
            'remove:Remove a VIP; its holder takes the address down at once.'
            'list:List the VIPs.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|remove|list)
            "_sfha_vip_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_vip_add() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':name:'
        ':address:'
        ':interface:'
        '--group[Group (default\: '\''default'\'').]:group:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_vip_remove() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':name:'
        '--yes[Do not ask for confirmation.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_vip_list() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_service() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'add:Add a service; the group'\''s holder starts it at once.'
            'remove:Stop managing a service; its holder stops it.'
            'list:List the managed services.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        add|remove|list)
            "_sfha_service_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_service_add() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':name:'
        ':unit:'
        '--group[Group (default\: '\''default'\'').]:group:'
        '--critical[A failure that exhausts the restarts moves the group.]'
        '--restart[Restart the unit in place before declaring it failed.]'
        '--check[A health check besides the unit'\''s own state\: http\://…, https\://…, tcp\:HOST\:PORT, systemd\:UNIT or '\''exec\:PROGRAM ARG…'\''.]:CHECK:'
        '--check-interval[How often the check runs (default 5s).]:check-interval:'
        '--check-timeout[How long one check may take (default 2s).]:check-timeout:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_service_remove() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':name:'
        '--yes[Do not ask for confirmation.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_service_list() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_reload() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--dry-run[Show what the reload would change, change nothing.]'
        '--yes[Do not ask before removing resources.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_config() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'check:Validate a configuration file (nothing is changed); every error with file:line:column.'
            'example:Print a commented example configuration using every key (--minimal: one VIP and one service).'
            'export:The live cluster document as a loadable config.yml (this node'\''s node: and logging: included).'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        check|example|export)
            "_sfha_config_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_config_check() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':file:'
        '(-c --config)'{-c,--config}'[Configuration file (the same as FILE).]:config:'
        '--json[Print JSON\: {valid, errors, warnings, counts}.]'
        '--corosync-conf[corosync.conf to read quorum settings from (a two-node cluster without fencing is warned about).]:corosync-conf:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_config_example() {
    local -i ret=1
    local -ar arg_specs=(
        '--minimal[Print a short example instead\: one VIP and one service, every other key left at its default.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_config_export() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print the document as JSON (revision, hash, configuration).]'
        '--include-secrets[Include the secrets (keep the output 0600).]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_simulate() {
    local -i ret=1
    local -ar arg_specs=(
        '--config[Configuration file (default\: the scenario'\''s '\''config'\'' line).]:config:'
        ':scenario:'
        '--json[Print JSON instead of text.]'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_logs() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '(-n --lines)'{-n,--lines}'[Number of lines.]:lines:'
        '(-f --follow)'{-f,--follow}'[Keep printing new lines.]'
        '(-p --priority)'{-p,--priority}'[Minimum priority\: debug, info, notice, warning, error.]:priority:'
        '--journal[Read journald (journalctl -u sfhad) instead of the daemon'\''s buffer.]'
        '--json[Print JSON lines.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_history() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '(-n --lines)'{-n,--lines}'[Number of entries.]:lines:'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_init() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--name[Cluster name (as corosync'\''s cluster_name).]:name:'
        '--mesh-network[The mesh network (CIDR).]:mesh-network:'
        '--endpoint[Where the other nodes reach this node\: HOST\[\:PORT\] (an IP address; default\: this node'\''s outbound address).]:endpoint:'
        '--port[The mesh'\''s UDP port.]:port:'
        '--token[corosync'\''s token timeout in milliseconds (default\: corosync'\''s own, 3000).]:token:'
        '--dry-run[Print what would be done, change nothing.]'
        '--json[Print JSON.]'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_token() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--expires[How long the token may be used (e.g. 30m, 2h; at most 7 days).]:expires:'
        '--json[Print JSON (the token, the joiner'\''s address, the expiry).]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_join() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':token:'
        '--name[This node'\''s name in the cluster (default\: its hostname).]:name:'
        '--endpoint[Where the other nodes reach this node\: HOST\[\:PORT\] (an IP address; default\: this node'\''s outbound address).]:endpoint:'
        '--port[The mesh'\''s UDP port.]:port:'
        '--dry-run[Check the token and this node, print what would be done, change nothing.]'
        '--json[Print JSON.]'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_mesh() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'status:Every member: its mesh address, endpoint, WireGuard handshake, corosync membership and whether its sfhad answers over the mesh.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        status)
            "_sfha_mesh_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_mesh_status() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_node() {
    local -i ret=1
    local -ar arg_specs=(
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'remove:Remove a node from the cluster (run on any other member).'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        remove)
            "_sfha_node_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_sfha_node_remove() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        ':name:'
        '--force[Remove it even when it is online and not in standby.]'
        '--dry-run[Print the plan (steps, quorum arithmetic, refusals) and change nothing.]'
        '--yes[Do not ask for confirmation.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_propagate() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--dry-run[Say what would change, change nothing.]'
        '--json[Print JSON.]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_leave() {
    local -i ret=1
    local -ar ___lang=('en' 'fr')
    local -ar arg_specs=(
        '--force[Leave even when the others cannot run the removal (local clean-up only).]'
        '--dry-run[Print the plan and change nothing.]'
        '--yes[Do not ask for confirmation.]'
        '--json[Print JSON (the removal as the other member ran it).]'
        '--socket[sfhad'\''s control socket.]:socket:'
        '--lang[Language of messages\: en or fr (default\: $SFHA_LANG, then $LANG).]:lang:{__sfha_complete "${___lang[@]}"}'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

_sfha_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _sfha ]]; then
    _sfha "${@}"
else
    compdef _sfha sfha
fi
