import SFHACore

/// French for the configuration loader's messages (`sfha config check --lang fr`). The loader writes every message
/// from fixed English phrases around the values it quotes ("…"); the phrases are replaced here, longest first, and
/// the quoted values are left as they are. Written by hand: no localisation package is available, and the loader's
/// messages stay English in the daemon's log and in the library.
enum ConfigurationFrench {
    static func translate(_ message: String) -> String {
        var out = ""
        var plain = ""
        var inQuote = false
        var escaped = false
        for character in message {
            if inQuote {
                out.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inQuote = false
                }
            } else if character == "\"" {
                out += translatePlain(plain)
                plain = ""
                out.append(character)
                inQuote = true
            } else {
                plain.append(character)
            }
        }
        return out + translatePlain(plain)
    }

    private static func translatePlain(_ text: String) -> String {
        guard !text.isEmpty else { return text }
        var result = text
        for (english, french) in orderedPhrases where result.contains(english) {
            result = result.replacingOccurrences(of: english, with: french)
        }
        return result
    }

    private static let orderedPhrases = phrases.sorted { $0.0.count > $1.0.count }

    /// English phrase → French. Each phrase is a fixed part of a loader message (ConfigurationLoading, GroupResolver,
    /// StonithParsing, YAMLReader, Validators, DurationParser, the URL and address parsers, ConfigurationFile).
    static let phrases: [(String, String)] = [
        // Keys (YAMLReader.checkKeys)
        ("unknown key, ignored (did you mean ", "clé inconnue, ignorée (vouliez-vous dire "),
        ("unknown key, ignored (known keys here: ", "clé inconnue, ignorée (clés connues ici : "),
        ("unknown key, ignored", "clé inconnue, ignorée"),
        // Types (YAMLReader)
        ("expected a mapping (key: value lines), found ", "attendu : un dictionnaire (lignes clé: valeur), trouvé : "),
        ("keys must be plain names, found ", "les clés doivent être des noms simples, trouvé : "),
        ("a merge key takes a mapping or a list of mappings", "une clé de fusion prend un dictionnaire ou une liste de dictionnaires"),
        ("expected a list (lines starting with ", "attendu : une liste (lignes commençant par "),
        ("), found ", "), trouvé : "),
        ("expected a string, found ", "attendu : une chaîne, trouvé : "),
        ("expected true or false, found ", "attendu : true ou false, trouvé : "),
        (" is not a boolean: expected true or false", " n'est pas un booléen : attendu true ou false"),
        (" (write it without quotes)", " (écrivez-le sans guillemets)"),
        ("expected an integer, found ", "attendu : un entier, trouvé : "),
        (" is not an integer", " n'est pas un entier"),
        ("expected a duration, found ", "attendu : une durée, trouvé : "),
        (" is not a duration: ", " n'est pas une durée : "),
        (" (expected a number of milliseconds or a value with a unit such as 500ms, 5s, 2m, 1h)",
         " (attendu : un nombre de millisecondes ou une valeur avec unité comme 500ms, 5s, 2m, 1h)"),
        (" (expected a number of seconds or a value with a unit such as 500ms, 5s, 2m, 1h)",
         " (attendu : un nombre de secondes ou une valeur avec unité comme 500ms, 5s, 2m, 1h)"),
        (" is out of range (expected a prefix length from 1 to ", " est hors limites (attendu : une longueur de préfixe de 1 à "),
        (" is out of range (expected ", " est hors limites (attendu : "),
        (" to ", " à "),
        ("a scalar", "un scalaire"), ("a mapping", "un dictionnaire"), ("a list", "une liste"), ("an alias", "un alias"),
        ("the configuration expands to more than ", "la configuration se développe en plus de "),
        (" entries (through YAML aliases or merge keys?); reading stopped here: write the configuration without such repetition",
         " entrées (par des alias ou des clés de fusion YAML ?) ; la lecture s'arrête ici : écrivez la configuration sans ces répétitions"),
        ("is required (", "est obligatoire ("),
        ("is required for exec checks (a list: [program, arguments…])",
         "est obligatoire pour les vérifications exec (une liste : [programme, arguments…])"),
        ("is required with provider proxmox (or token_secret; a 0600 file is preferred)",
         "est obligatoire avec le fournisseur proxmox (ou token_secret ; un fichier 0600 est préférable)"),
        ("is required with provider proxmox (api_url, token_id, …)", "est obligatoire avec le fournisseur proxmox (api_url, token_id, …)"),
        ("is required with provider proxmox (the guest id)", "est obligatoire avec le fournisseur proxmox (l'identifiant de l'invité)"),
        ("is required with provider webhook (fence_url, …)", "est obligatoire avec le fournisseur webhook (fence_url, …)"),
        // What a required key is for
        ("a name for this VIP", "un nom pour cette VIP"), ("a name for this service", "un nom pour ce service"),
        ("a name for this health check", "un nom pour ce contrôle de santé"), ("a name for this group", "un nom pour ce groupe"),
        ("this node's name, as in corosync.conf", "le nom de ce nœud, comme dans corosync.conf"),
        ("the address, e.g. ", "l'adresse, par exemple "),
        ("the URL to GET, e.g. ", "l'URL à interroger (GET), par exemple "),
        ("host:port, e.g. ", "hôte:port, par exemple "),
        ("the VIP or service started after it", "la VIP ou le service démarré après"),
        ("the VIP or service started first", "la VIP ou le service démarré en premier"),
        ("the VIP or service that follows", "la VIP ou le service qui suit"),
        ("the VIP, service or health check it follows", "la VIP, le service ou le contrôle de santé qu'il suit"),
        ("colocation or order", "colocation ou order"),
        ("the unit to check, e.g. ", "l'unité à vérifier, par exemple "),
        // Names (Validators)
        (" is not a valid cluster name: ", " n'est pas un nom de cluster valide : "),
        (" is not a valid node name: ", " n'est pas un nom de nœud valide : "),
        (" is not a valid Proxmox node name: ", " n'est pas un nom de nœud Proxmox valide : "),
        (" is not a valid group name: ", " n'est pas un nom de groupe valide : "),
        (" is not a valid interface name: ", " n'est pas un nom d'interface valide : "),
        (" is not a valid systemd unit name (for a health check, restart_service names the unit to restart): ",
         " n'est pas un nom d'unité systemd valide (pour un contrôle de santé, restart_service nomme l'unité à redémarrer) : "),
        (" is not a valid systemd unit name: ", " n'est pas un nom d'unité systemd valide : "),
        (" is not a valid name: ", " n'est pas un nom valide : "),
        (" is not a valid HTTP header name", " n'est pas un nom d'en-tête HTTP valide"),
        ("a node name has 1 to 64 characters", "un nom de nœud a de 1 à 64 caractères"),
        ("a node name may only contain letters, digits, '.', '_' and '-'",
         "un nom de nœud ne contient que des lettres, des chiffres, '.', '_' et '-'"),
        ("a node name starts with a letter or a digit", "un nom de nœud commence par une lettre ou un chiffre"),
        ("a name has 1 to 128 characters", "un nom a de 1 à 128 caractères"),
        ("a name may only contain letters, digits, '.', '_', ':', '@' and '-'",
         "un nom ne contient que des lettres, des chiffres, '.', '_', ':', '@' et '-'"),
        ("a name starts with a letter or a digit", "un nom commence par une lettre ou un chiffre"),
        ("an interface name has 1 to 15 characters", "un nom d'interface a de 1 à 15 caractères"),
        ("an interface name cannot be ", "un nom d'interface ne peut pas être "),
        (" or ", " ou "),
        ("an interface name cannot contain '/' or ':'", "un nom d'interface ne peut pas contenir '/' ni ':'"),
        ("an interface name cannot contain spaces, control or non-ASCII characters",
         "un nom d'interface ne peut pas contenir d'espaces, de caractères de contrôle ou non ASCII"),
        ("an interface name cannot start with '-'", "un nom d'interface ne peut pas commencer par '-'"),
        ("a unit name has 1 to 256 characters", "un nom d'unité a de 1 à 256 caractères"),
        ("a unit name may only contain letters, digits and ':', '_', '.', '\\', '@', '-'",
         "un nom d'unité ne contient que des lettres, des chiffres et ':', '_', '.', '\\', '@', '-'"),
        ("a unit name cannot start with '-' or '.'", "un nom d'unité ne peut pas commencer par '-' ni '.'"),
        ("the unit name before the suffix is empty", "le nom d'unité avant le suffixe est vide"),
        ("a unit name cannot start with '@'", "un nom d'unité ne peut pas commencer par '@'"),
        ("a template unit (name@.service) needs an instance (name@instance.service)",
         "une unité modèle (nom@.service) demande une instance (nom@instance.service)"),
        ("a cluster name has 1 to 64 characters", "un nom de cluster a de 1 à 64 caractères"),
        ("a cluster name may only contain letters, digits, '.', '_' and '-'",
         "un nom de cluster ne contient que des lettres, des chiffres, '.', '_' et '-'"),
        ("a cluster name starts with a letter or a digit", "un nom de cluster commence par une lettre ou un chiffre"),
        ("it is the unspecified address", "c'est l'adresse non spécifiée"),
        ("it is a loopback address (127.0.0.0/8)", "c'est une adresse de bouclage (127.0.0.0/8)"),
        ("it is the loopback address", "c'est l'adresse de bouclage"),
        ("it is a multicast address (", "c'est une adresse multicast ("),
        ("it is the broadcast address of its /", "c'est l'adresse de diffusion de son sous-réseau /"),
        ("it is the broadcast address", "c'est l'adresse de diffusion"),
        ("it is the network address of its /", "c'est l'adresse réseau de son sous-réseau /"),
        (" subnet", ""),
        ("it is a link-local address (fe80::/10)", "c'est une adresse lien-local (fe80::/10)"),
        ("it is an IPv4-mapped address: write the IPv4 address instead", "c'est une adresse IPv4 mappée : écrivez plutôt l'adresse IPv4"),
        ("it is empty", "elle est vide"),
        ("a host name has 1 to 253 characters", "un nom d'hôte a de 1 à 253 caractères"),
        (" is not a valid host name", " n'est pas un nom d'hôte valide"),
        // Node, cluster, logging
        ("a priority is required (an integer from 0 to 1000)", "une priorité est obligatoire (un entier de 0 à 1000)"),
        (" is not a log level: expected ", " n'est pas un niveau de journal : attendu "),
        ("no group is named ", "aucun groupe ne s'appelle "),
        (": its ban is ignored", " : son bannissement est ignoré"),
        (ClusterConfiguration.quorumNotRequiredWarning,
         "false : une partition sans quorum garde et prend des groupes, donc une coupure réseau met une VIP des deux côtés "
            + "(la garantie de sfha, jamais deux détenteurs, demande quorum_required: true ; aucun fencing pour l'instant)"),
        // VIPs
        ("empty entry: expected a VIP (name, ip, …)", "entrée vide : attendu une VIP (name, ip, …)"),
        (" has an invalid prefix length after '/'", " a une longueur de préfixe invalide après '/'"),
        (" is not an IPv4 or IPv6 address", " n'est pas une adresse IPv4 ou IPv6"),
        (" contradicts the /", " contredit le /"),
        (" written in ip (give the prefix length once)", " écrit dans ip (donnez la longueur de préfixe une seule fois)"),
        (" cannot be a floating IP: ", " ne peut pas être une IP flottante : "),
        // Services
        ("empty entry: expected a service (name, unit, …)", "entrée vide : attendu un service (name, unit, …)"),
        (" is not a service type: only systemd is supported", " n'est pas un type de service : seul systemd est pris en charge"),
        (" is used as the unit name (no unit key) but is not a valid systemd unit name: ",
         " sert de nom d'unité (pas de clé unit) mais n'est pas un nom d'unité systemd valide : "),
        ("0 contradicts restart_service: true (set restart_service: false to never restart in place)",
         "0 contredit restart_service: true (mettez restart_service: false pour ne jamais redémarrer sur place)"),
        (" contradicts restart_service: false (sfha never restarts this unit in place)",
         " contredit restart_service: false (sfha ne redémarre jamais cette unité sur place)"),
        // Health checks
        ("empty entry: expected a health check (name, type, …)", "entrée vide : attendu un contrôle de santé (name, type, …)"),
        ("the timeout (", "le délai ("),
        (") is longer than the interval (", ") est plus long que l'intervalle ("),
        ("): a slow check delays the next one", ") : un contrôle lent retarde le suivant"),
        ("give either ", "donnez soit "),
        (" (milliseconds) or ", " (millisecondes) soit "),
        (" (seconds), not both", " (secondes), pas les deux"),
        (" is not a check type: expected ", " n'est pas un type de contrôle : attendu "),
        ("only used by https checks; ignored for type ", "utilisé seulement par les contrôles https ; ignoré pour le type "),
        ("only used by https URLs; ignored for ", "utilisé seulement par les URL https ; ignoré pour "),
        ("only exec checks take a command; type ", "seuls les contrôles exec prennent une commande ; le type "),
        (" uses target", " utilise target"),
        (" is not an https:// URL (type https)", " n'est pas une URL https:// (type https)"),
        ("exec checks take command: [program, arguments…] instead of target",
         "les contrôles exec prennent command: [programme, arguments…] au lieu de target"),
        (" is a single string: write the command as a list of arguments, e.g. [/usr/bin/check, --quiet] (sfha never runs a shell)",
         " est une seule chaîne : écrivez la commande comme une liste d'arguments, par exemple [/usr/bin/check, --quiet] "
            + "(sfha ne lance jamais de shell)"),
        ("is empty: expected [program, arguments…]", "est vide : attendu [programme, arguments…]"),
        (" is not a program: expected an absolute path or a name looked up in PATH",
         " n'est pas un programme : attendu un chemin absolu ou un nom cherché dans PATH"),
        ("arguments cannot contain NUL characters", "les arguments ne peuvent pas contenir de caractère NUL"),
        // URLs and addresses
        (" is not an IPv6 address", " n'est pas une adresse IPv6"),
        (" contains credentials: put them in headers or a secret file instead",
         " contient des identifiants : mettez-les plutôt dans des en-têtes ou un fichier secret"),
        (" has an invalid host: ", " a un hôte invalide : "),
        (" has an invalid port: expected 1 to 65535", " a un port invalide : attendu 1 à 65535"),
        (" has no host (expected http://host/…)", " n'a pas d'hôte (attendu http://hôte/…)"),
        (" has no host: expected host:port", " n'a pas d'hôte : attendu hôte:port"),
        (" has no port: expected [address]:port", " n'a pas de port : attendu [adresse]:port"),
        (" has no port: expected host:port", " n'a pas de port : attendu hôte:port"),
        (" has port ", " a le port "),
        (", expected 1 to 65535", ", attendu 1 à 65535"),
        (" is ambiguous: write IPv6 addresses in brackets, as [address]:port",
         " est ambigu : écrivez les adresses IPv6 entre crochets, comme [adresse]:port"),
        (" is not a valid URL: it contains whitespace", " n'est pas une URL valide : elle contient des espaces"),
        (" is not a valid URL", " n'est pas une URL valide"),
        (" is not an http:// or https:// URL", " n'est pas une URL http:// ou https://"),
        (" lacks the closing ']' of the IPv6 address", " n'a pas le ']' fermant de l'adresse IPv6"),
        ("is empty: expected an http:// or https:// URL", "est vide : attendu une URL http:// ou https://"),
        // Durations
        ("it is negative", "elle est négative"),
        ("it contains spaces (write 5s or 1m30s)", "elle contient des espaces (écrivez 5s ou 1m30s)"),
        ("it is too large or too precise", "elle est trop grande ou trop précise"),
        ("it is too large", "elle est trop grande"),
        ("a digit must follow the decimal point", "un chiffre doit suivre la virgule"),
        ("a number is missing", "il manque un nombre"),
        ("every number needs a unit", "chaque nombre demande une unité"),
        ("unknown unit ", "unité inconnue "),
        ("it is not a whole number of milliseconds", "ce n'est pas un nombre entier de millisecondes"),
        // Groups and constraints
        ("empty entry: expected a group (name, vips, services, …)", "entrée vide : attendu un groupe (name, vips, services, …)"),
        ("has no effect without failback: true", "n'a d'effet qu'avec failback: true"),
        ("empty entry: expected a constraint (type, …)", "entrée vide : attendu une contrainte (type, …)"),
        ("not used by a colocation constraint, ignored", "pas utilisé par une contrainte colocation, ignoré"),
        ("not used by a order constraint, ignored", "pas utilisé par une contrainte order, ignoré"),
        (" is not a constraint type: expected colocation or order", " n'est pas un type de contrainte : attendu colocation ou order"),
        (" is already the name of ", " est déjà le nom de "),
        (" (line ", " (ligne "),
        ("there is no VIP named ", "aucune VIP ne s'appelle "),
        ("there is no service named ", "aucun service ne s'appelle "),
        ("there is no VIP, service or health check named ", "aucune VIP, aucun service ni contrôle de santé ne s'appelle "),
        ("there is no group named ", "aucun groupe ne s'appelle "),
        (" is a VIP: list it under vips", " est une VIP : mettez-la sous vips"),
        (" is a service: list it under services", " est un service : mettez-le sous services"),
        (" is a health check (groups hold VIPs and services; use a colocation constraint to require a check)",
         " est un contrôle de santé (les groupes contiennent des VIP et des services ; utilisez une contrainte colocation "
            + "pour exiger un contrôle)"),
        (" is already in group ", " est déjà dans le groupe "),
        ("): a resource belongs to one group", ") : une ressource appartient à un seul groupe"),
        ("a constraint needs two different names", "une contrainte demande deux noms différents"),
        (" are both health checks: colocation needs a VIP or a service",
         " sont tous deux des contrôles de santé : une colocation demande une VIP ou un service"),
        (" and ", " et "),
        (" is a health check: order constraints apply to VIPs and services",
         " est un contrôle de santé : les contraintes order s'appliquent aux VIP et aux services"),
        (" is a VIP of group ", " est une VIP du groupe "),
        (", whose VIPs always start before its services: put ", ", dont les VIP démarrent toujours avant les services : mettez "),
        (" in different groups to start the service first", " dans des groupes différents pour démarrer le service en premier"),
        ("the start order of groups has a cycle: ", "l'ordre de démarrage des groupes a un cycle : "),
        (" (→: starts before)", " (→ : démarre avant)"),
        ("group colocation has a cycle: ", "la colocation des groupes a un cycle : "),
        (" (→: runs with): put these resources in one group instead", " (→ : tourne avec) : mettez plutôt ces ressources dans un seul groupe"),
        ("the VIP start order has a cycle: ", "l'ordre de démarrage des VIP a un cycle : "),
        ("the service start order has a cycle: ", "l'ordre de démarrage des services a un cycle : "),
        ("group ", "le groupe "),
        (" has no VIP and no service", " n'a ni VIP ni service"),
        (" is already used by ", " est déjà utilisé par "),
        ("): VIPs, services and health checks share one namespace", ") : VIP, services et contrôles de santé partagent un même espace de noms"),
        ("a group cannot refer to itself", "un groupe ne peut pas se désigner lui-même"),
        // STONITH
        (StonithConfiguration.notImplementedWarning, DaemonText.stonithFrench),
        (" is not a STONITH provider: expected proxmox or webhook", " n'est pas un fournisseur STONITH : attendu proxmox ou webhook"),
        ("STONITH is enabled but no node is listed: only nodes listed here are ever fenced",
         "STONITH est activé mais aucun nœud n'est listé : seuls les nœuds listés ici sont isolés (fencing)"),
        (" is not a Proxmox API token id: expected user@realm!tokenid", " n'est pas un identifiant de jeton d'API Proxmox : attendu user@realm!tokenid"),
        ("is empty", "est vide"),
        (" is not an absolute path", " n'est pas un chemin absolu"),
        ("both token_secret and token_secret_file are set: the file wins (remove token_secret)",
         "token_secret et token_secret_file sont tous deux donnés : le fichier l'emporte (retirez token_secret)"),
        (" is not an HTTP method: expected ", " n'est pas une méthode HTTP : attendu "),
        ("a header value cannot contain line breaks, NUL or other control characters (tabs excepted)",
         "une valeur d'en-tête ne peut pas contenir de saut de ligne, de NUL ni d'autre caractère de contrôle (sauf tabulations)"),
        ("not sent with method GET", "pas envoyé avec la méthode GET"),
        (" is not a guest type: expected lxc or qemu", " n'est pas un type d'invité : attendu lxc ou qemu"),
        // The file itself (ConfigurationFile, ConfigurationValidation)
        ("cannot read the configuration: ", "impossible de lire la configuration : "),
        ("cannot open ", "impossible d'ouvrir "),
        ("cannot examine ", "impossible d'examiner "),
        ("cannot read ", "impossible de lire "),
        (", not a regular file: point --config at the configuration file",
         ", pas un fichier ordinaire : indiquez à --config le fichier de configuration"),
        ("-byte limit for a configuration file: point --config at the configuration file",
         " octets, la limite d'un fichier de configuration : indiquez à --config le fichier de configuration"),
        (", over the ", ", au-delà des "),
        ("a directory", "un répertoire"), ("a character device", "un périphérique caractère"),
        ("a block device", "un périphérique bloc"), ("a FIFO", "une FIFO"), ("a socket", "une socket"),
        ("a symbolic link", "un lien symbolique"), ("not a file", "pas un fichier"), (" bytes", " octets"),
        ("larger", "plus grand"),
        ("the configuration is ", "la configuration fait "),
        ("-byte limit for a configuration file", " octets, la limite d'un fichier de configuration"),
        ("and ", "et "), (" more error not shown (the first ", " erreur de plus non affichée (les "),
        (" more errors not shown (the first ", " erreurs de plus non affichées (les "),
        (" more warning not shown (the first ", " avertissement de plus non affiché (les "),
        (" more warnings not shown (the first ", " avertissements de plus non affichés (les "),
        (" are above)", " premiers sont ci-dessus)"),
        // YAML syntax (Yams/libyaml: the common problems)
        ("invalid YAML: ", "YAML invalide : "),
        (" (a tab: YAML is indented with spaces only)", " (une tabulation : YAML s'indente seulement avec des espaces)"),
        (" started at line ", " commencé à la ligne "), (", column ", ", colonne "),
        ("more than once in the same mapping", "plus d'une fois dans le même dictionnaire"),
        ("key ", "la clé "), ("keys ", "les clés "), (" appears ", " apparaît "), (" appear ", " apparaissent "),
        (" more", " de plus"),
        ("mapping values are not allowed in this context", "les valeurs de dictionnaire ne sont pas permises dans ce contexte"),
        ("did not find expected key", "clé attendue introuvable"),
        ("did not find expected '-' indicator", "indicateur '-' attendu introuvable"),
        ("did not find expected ',' or ']'", "',' ou ']' attendu introuvable"),
        ("did not find expected ',' or '}'", "',' ou '}' attendu introuvable"),
        ("did not find expected node content", "contenu de nœud attendu introuvable"),
        ("found character that cannot start any token", "caractère qui ne peut commencer aucun élément"),
        ("found undefined alias", "alias non défini"),
        ("found a tab character that violates indentation", "une tabulation enfreint l'indentation"),
        ("found a tab character where an indentation space is expected", "une tabulation là où une espace d'indentation est attendue"),
        ("could not find expected ':'", "':' attendu introuvable"),
        ("found unexpected end of stream", "fin de flux inattendue"),
        ("found unknown escape character", "caractère d'échappement inconnu"),
        ("while parsing a block mapping", "en lisant un dictionnaire en bloc"),
        ("while parsing a block collection", "en lisant une collection en bloc"),
        ("while parsing a flow sequence", "en lisant une séquence en ligne"),
        ("while parsing a flow mapping", "en lisant un dictionnaire en ligne"),
        ("while scanning a simple key", "en lisant une clé simple"),
        ("while scanning a quoted scalar", "en lisant un scalaire entre guillemets"),
        ("while parsing a block node", "en lisant un nœud en bloc"),
        ("invalid leading UTF-8 octet", "octet UTF-8 initial invalide"),
        ("control characters are not allowed", "les caractères de contrôle ne sont pas permis"),
        ("?)", " ?)"),
        // Last, the shortest: what a longer phrase did not cover.
        (" is ", " est "),
    ]
}
