function __sfha_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sfha_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __sfha_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __sfha_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __sfha_parse_tokens -S
    set -l unparsed_tokens (__sfha_tokens -pc)
    switch $unparsed_tokens[1]
    case 'sfha'
        __sfha_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'status'
            __sfha_parse_subcommand 0 'json' 'watch' 'interval=' 'socket=' 'lang=' 'version' 'h/help'
        case 'resources'
            __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'health'
            __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'constraints'
            __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'standby'
            __sfha_parse_subcommand 1 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'unstandby'
            __sfha_parse_subcommand 1 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'failover'
            __sfha_parse_subcommand 1 'to=' 'ban=' 'clear' 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'maintenance'
            __sfha_parse_subcommand 1 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'resource'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'cleanup'
                __sfha_parse_subcommand 1 'node=' 'json' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'vip'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'add'
                __sfha_parse_subcommand 3 'group=' 'json' 'socket=' 'lang=' 'version' 'h/help'
            case 'remove'
                __sfha_parse_subcommand 1 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
            case 'list'
                __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'service'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'add'
                __sfha_parse_subcommand 2 'group=' 'critical' 'restart' 'check=' 'check-interval=' 'check-timeout=' 'json' 'socket=' 'lang=' 'version' 'h/help'
            case 'remove'
                __sfha_parse_subcommand 1 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
            case 'list'
                __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'reload'
            __sfha_parse_subcommand 0 'dry-run' 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'config'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'check'
                __sfha_parse_subcommand 1 'c/config=' 'json' 'corosync-conf=' 'lang=' 'version' 'h/help'
            case 'example'
                __sfha_parse_subcommand 0 'minimal' 'version' 'h/help'
            case 'export'
                __sfha_parse_subcommand 0 'json' 'include-secrets' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'simulate'
            __sfha_parse_subcommand 1 'config=' 'json' 'version' 'h/help'
        case 'logs'
            __sfha_parse_subcommand 0 'n/lines=' 'f/follow' 'p/priority=' 'journal' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'history'
            __sfha_parse_subcommand 0 'n/lines=' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'init'
            __sfha_parse_subcommand 0 'name=' 'mesh-network=' 'endpoint=' 'port=' 'token=' 'dry-run' 'json' 'lang=' 'version' 'h/help'
        case 'token'
            __sfha_parse_subcommand 0 'expires=' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'join'
            __sfha_parse_subcommand 1 'name=' 'endpoint=' 'port=' 'dry-run' 'json' 'lang=' 'version' 'h/help'
        case 'mesh'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'status'
                __sfha_parse_subcommand 0 'json' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'node'
            __sfha_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'remove'
                __sfha_parse_subcommand 1 'force' 'dry-run' 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
            end
        case 'propagate'
            __sfha_parse_subcommand 0 'dry-run' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'leave'
            __sfha_parse_subcommand 0 'force' 'dry-run' 'yes' 'json' 'socket=' 'lang=' 'version' 'h/help'
        case 'help'
            __sfha_parse_subcommand -r 1 'version'
        end
    end
end

function __sfha_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __sfha_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __sfha_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __sfha_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__sfha_tokens -p)
    if test -z "$(__sfha_tokens -t)"
        set -l index (count (__sfha_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'sfha' -f
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'status' -d 'Show the cluster: nodes, quorum, each group\'s holder and why, VIPs, services, health.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'resources' -d 'VIPs and services: their group, holder, and whether they are up on this node.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'health' -d 'Health checks running on this node and the service failures counted here.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'constraints' -d 'Groups and the colocation/order rules between them, as sfhad applies them.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'standby' -d 'Put a node (this one by default) in standby: it gives up its groups and takes none.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'unstandby' -d 'Take a node (this one by default) out of standby: it may hold groups again.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'failover' -d 'Move a group (every group when none is named) to another node now, or keep it off a node.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'maintenance' -d 'Freeze (on) or resume (off) placement cluster-wide; nothing is started, stopped or moved while on.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'resource' -d 'Resource operations.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'vip' -d 'Add, remove or list floating IPs (cluster-wide; corosync is not touched).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'service' -d 'Add, remove or list managed systemd services (cluster-wide).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'reload' -d 'Make sfhad re-read its configuration file (as SIGHUP, but asks before removing anything).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'config' -d 'Check or print sfha configuration.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'simulate' -d 'Run sfhad\'s real state machine on simulated nodes and print the timeline.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'logs' -d 'sfhad\'s recent log lines (from the daemon; --journal reads journald instead).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'history' -d 'What happened, as this node saw it: group moves, failures, operator commands (who, what, the answer).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'init' -d 'Create a new cluster on this bare node: WireGuard mesh, membership record, corosync, sfhad.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'token' -d 'Make a single-use join token for a new node (give it to \'sfha join\' on that node).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'join' -d 'Join this bare node to a cluster with a token from \'sfha token\'.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'mesh' -d 'The WireGuard mesh (wg-sfha) of a cluster built by \'sfha init\'.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'node' -d 'Change the cluster\'s membership.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'propagate' -d 'Repair: make every reachable member\'s corosync.conf and WireGuard peers match the membership record.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'leave' -d 'This node leaves the cluster (run on it).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" json' -l 'json' -d 'Print JSON instead of text.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" watch' -l 'watch' -d 'Keep showing the status, refreshed every --interval (Ctrl-C ends it); with --json, one object per line.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" interval' -l 'interval' -d 'Seconds between refreshes with --watch.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resources" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resources" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resources" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resources" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resources" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha health" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha health" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha health" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha health" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha health" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha constraints" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha constraints" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha constraints" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha constraints" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha constraints" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha standby" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha standby" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha standby" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha standby" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha standby" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha unstandby" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha unstandby" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha unstandby" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha unstandby" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha unstandby" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" to' -l 'to' -d 'The node to move it to.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" ban' -l 'ban' -d 'Keep the group off this node until --clear.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" clear' -l 'clear' -d 'Lift the group\'s bans (every group\'s when none is named).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" yes' -l 'yes' -d 'Do not ask for confirmation.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha failover" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha maintenance" -eq 1' -fka 'on off'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha maintenance" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha maintenance" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha maintenance" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha maintenance" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha maintenance" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha resource" -eq 1' -fa 'cleanup' -d 'Forget service failures so that a blocked group may run again (on every node, or one).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" node' -l 'node' -d 'Only on this node.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha resource cleanup" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha vip" -eq 1' -fa 'add' -d 'Add a VIP; the group\'s holder brings it up at once.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha vip" -eq 1' -fa 'remove' -d 'Remove a VIP; its holder takes the address down at once.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha vip" -eq 1' -fa 'list' -d 'List the VIPs.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" group' -l 'group' -d 'Group (default: \'default\').' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" yes' -l 'yes' -d 'Do not ask for confirmation.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip list" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip list" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip list" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip list" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha vip list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha service" -eq 1' -fa 'add' -d 'Add a service; the group\'s holder starts it at once.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha service" -eq 1' -fa 'remove' -d 'Stop managing a service; its holder stops it.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha service" -eq 1' -fa 'list' -d 'List the managed services.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" group' -l 'group' -d 'Group (default: \'default\').' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" critical' -l 'critical' -d 'A failure that exhausts the restarts moves the group.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" restart' -l 'restart' -d 'Restart the unit in place before declaring it failed.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" check' -l 'check' -d 'A health check besides the unit\'s own state: http://…, https://…, tcp:HOST:PORT, systemd:UNIT or \'exec:PROGRAM ARG…\'.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" check-interval' -l 'check-interval' -d 'How often the check runs (default 5s).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" check-timeout' -l 'check-timeout' -d 'How long one check may take (default 2s).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service add" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" yes' -l 'yes' -d 'Do not ask for confirmation.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service list" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service list" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service list" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service list" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha service list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" dry-run' -l 'dry-run' -d 'Show what the reload would change, change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" yes' -l 'yes' -d 'Do not ask before removing resources.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha reload" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha config" -eq 1' -fa 'check' -d 'Validate a configuration file (nothing is changed); every error with file:line:column.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha config" -eq 1' -fa 'example' -d 'Print a commented example configuration using every key (--minimal: one VIP and one service).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha config" -eq 1' -fa 'export' -d 'The live cluster document as a loadable config.yml (this node\'s node: and logging: included).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" c config' -s 'c' -l 'config' -d 'Configuration file (the same as FILE).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" json' -l 'json' -d 'Print JSON: {valid, errors, warnings, counts}.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" corosync-conf' -l 'corosync-conf' -d 'corosync.conf to read quorum settings from (a two-node cluster without fencing is warned about).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config check" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config example" minimal' -l 'minimal' -d 'Print a short example instead: one VIP and one service, every other key left at its default.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config example" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config example" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" json' -l 'json' -d 'Print the document as JSON (revision, hash, configuration).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" include-secrets' -l 'include-secrets' -d 'Include the secrets (keep the output 0600).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha config export" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha simulate" config' -l 'config' -d 'Configuration file (default: the scenario\'s \'config\' line).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha simulate" json' -l 'json' -d 'Print JSON instead of text.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha simulate" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha simulate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" lines n' -s 'n' -l 'lines' -d 'Number of lines.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" f follow' -s 'f' -l 'follow' -d 'Keep printing new lines.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" p priority' -s 'p' -l 'priority' -d 'Minimum priority: debug, info, notice, warning, error.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" journal' -l 'journal' -d 'Read journald (journalctl -u sfhad) instead of the daemon\'s buffer.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" json' -l 'json' -d 'Print JSON lines.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha logs" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" lines n' -s 'n' -l 'lines' -d 'Number of entries.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha history" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" name' -l 'name' -d 'Cluster name (as corosync\'s cluster_name).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" mesh-network' -l 'mesh-network' -d 'The mesh network (CIDR).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" endpoint' -l 'endpoint' -d 'Where the other nodes reach this node: HOST[:PORT] (an IP address; default: this node\'s outbound address).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" port' -l 'port' -d 'The mesh\'s UDP port.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" token' -l 'token' -d 'corosync\'s token timeout in milliseconds (default: corosync\'s own, 3000).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" dry-run' -l 'dry-run' -d 'Print what would be done, change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" expires' -l 'expires' -d 'How long the token may be used (e.g. 30m, 2h; at most 7 days).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" json' -l 'json' -d 'Print JSON (the token, the joiner\'s address, the expiry).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha token" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" name' -l 'name' -d 'This node\'s name in the cluster (default: its hostname).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" endpoint' -l 'endpoint' -d 'Where the other nodes reach this node: HOST[:PORT] (an IP address; default: this node\'s outbound address).' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" port' -l 'port' -d 'The mesh\'s UDP port.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" dry-run' -l 'dry-run' -d 'Check the token and this node, print what would be done, change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha join" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha mesh" -eq 1' -fa 'status' -d 'Every member: its mesh address, endpoint, WireGuard handshake, corosync membership and whether its sfhad answers over the mesh.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh status" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh status" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh status" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh status" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha mesh status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_positional "sfha node" -eq 1' -fa 'remove' -d 'Remove a node from the cluster (run on any other member).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" force' -l 'force' -d 'Remove it even when it is online and not in standby.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" dry-run' -l 'dry-run' -d 'Print the plan (steps, quorum arithmetic, refusals) and change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" yes' -l 'yes' -d 'Do not ask for confirmation.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha node remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" dry-run' -l 'dry-run' -d 'Say what would change, change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" json' -l 'json' -d 'Print JSON.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha propagate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" force' -l 'force' -d 'Leave even when the others cannot run the removal (local clean-up only).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" dry-run' -l 'dry-run' -d 'Print the plan and change nothing.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" yes' -l 'yes' -d 'Do not ask for confirmation.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" json' -l 'json' -d 'Print JSON (the removal as the other member ran it).'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" socket' -l 'socket' -d 'sfhad\'s control socket.' -rfka ''
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" lang' -l 'lang' -d 'Language of messages: en or fr (default: $SFHA_LANG, then $LANG).' -rfka 'en fr'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" version' -l 'version' -d 'Show the version.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha leave" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'sfha' -n '__sfha_should_offer_completions_for_flags_or_options "sfha help" version' -l 'version' -d 'Show the version.'
