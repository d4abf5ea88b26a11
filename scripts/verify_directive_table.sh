#!/usr/bin/env bash
# Checks src/nginx_conf/directives.rs against the nginx installed here: puts every directive
# of the table into each context of a scratch configuration and runs `nginx -t` on it.
#
#   scripts/verify_directive_table.sh [--args] [--jobs N] [NAME...]
#
# A directive is allowed in a context unless nginx answers `"NAME" directive is not allowed
# here`; any other outcome (success, invalid value, missing file, ...) means allowed, and
# `unknown directive "NAME"` means this nginx build lacks the module. nginx checks the
# context before the argument count (ngx_conf_handler), so one dummy argument, "1", is
# enough for every directive (SAMPLE below overrides it where "1" would bind a port).
#
# Contexts probed: main, events, http, server, location, upstream, "if in server",
# "if in location", limit_except; with NGINX_MODULES naming Debian's ngx_stream_module.so
# or ngx_mail_module.so, also stream, stream server, stream upstream, mail, mail server.
#
# --args also probes, in every context the directive is allowed in, whether it wants a
# `{ }` block and which argument counts 0..8 nginx accepts ("invalid number of arguments"
# otherwise), and compares those with the table's `block` and `args`.
#
# stdout: TSV, one line per directive: name<TAB>allowed contexts (comma list, names as
# context_names() gives them) or "unknown"; with --args two more columns: block
# (yes/no/mixed) and the accepted argument counts.
# stderr: each disagreement with the table and a summary; exit status 1 on a disagreement.
#
# Environment: NGINX (default /usr/sbin/nginx), NGINX_MODULES (space-separated .so paths to
# load_module first), TABLE (default src/nginx_conf/directives.rs). Only `nginx -t` runs,
# in a temporary prefix (-p/-c/-e) that is removed afterwards; no server is started and
# /etc/nginx is not read.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TABLE=${TABLE:-$here/../src/nginx_conf/directives.rs}
NGINX=${NGINX:-/usr/sbin/nginx}
read -r -a MODULES <<<"${NGINX_MODULES:-}"
WANT_ARGS=0
JOBS=$(nproc 2>/dev/null || echo 4)
ONLY=()
while (($#)); do
    case $1 in
        --args) WANT_ARGS=1 ;;
        --jobs) JOBS=$2; shift ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) ONLY+=("$1") ;;
    esac
    shift
done

[[ -x $NGINX ]] || { echo "no nginx at $NGINX" >&2; exit 2; }
[[ -r $TABLE ]] || { echo "no table at $TABLE" >&2; exit 2; }

# Context keys in the table's bit order, their Rust constant and nginx's name.
ALL_KEYS=(main events http server location upstream sif lif lmt
    stream stream_server stream_upstream mail mail_server)
declare -A KEY_OF_CONST=([MAIN]=main [EVENTS]=events [HTTP]=http [SERVER]=server
    [LOCATION]=location [UPSTREAM]=upstream [SIF]=sif [LIF]=lif [LMT]=lmt [STREAM]=stream
    [STREAM_SERVER]=stream_server [STREAM_UPSTREAM]=stream_upstream [MAIL]=mail
    [MAIL_SERVER]=mail_server)
declare -A NAME_OF_KEY=([main]=main [events]=events [http]=http [server]=server
    [location]=location [upstream]=upstream [sif]="if in server" [lif]="if in location"
    [lmt]=limit_except [stream]=stream [stream_server]="stream server"
    [stream_upstream]="stream upstream" [mail]=mail [mail_server]="mail server")

HAVE_STREAM=0 HAVE_MAIL=0
for m in "${MODULES[@]}"; do
    [[ -r $m ]] || { echo "no module at $m" >&2; exit 2; }
    case ${m##*/} in
        ngx_stream_module.so) HAVE_STREAM=1 ;;
        ngx_mail_module.so) HAVE_MAIL=1 ;;
    esac
done
KEYS=(main events http server location upstream sif lif lmt)
((HAVE_STREAM)) && KEYS+=(stream stream_server stream_upstream)
((HAVE_MAIL)) && KEYS+=(mail mail_server)

# Sample arguments where the dummy "1" is not harmless.
declare -A SAMPLE=([listen]="127.0.0.1:18199")

# The table: one `d("name", CONTEXTS, ARGS),` or `b(...)` per line (#[rustfmt::skip]).
declare -A T_CTX=() T_ARGS=() T_BLOCK=()
NAMES=()
re='^[[:space:]]*([db])\("([a-z0-9_]+)", ([A-Z_| ]+), ([A-Z0-9_| ]+)\),'
while IFS= read -r line; do
    [[ $line =~ $re ]] || continue
    name=${BASH_REMATCH[2]}
    NAMES+=("$name")
    T_BLOCK[$name]=$([[ ${BASH_REMATCH[1]} == b ]] && echo yes || echo no)
    T_ARGS[$name]=${BASH_REMATCH[4]}
    keys=()
    for c in ${BASH_REMATCH[3]//|/ }; do
        if [[ $c == ANY_CONTEXT ]]; then
            keys=("${ALL_KEYS[@]}")
        else
            [[ -n ${KEY_OF_CONST[$c]:-} ]] || { echo "table: unknown context $c ($name)" >&2; exit 2; }
            keys+=("${KEY_OF_CONST[$c]}")
        fi
    done
    T_CTX[$name]="${keys[*]}"
done <"$TABLE"
((${#NAMES[@]})) || { echo "no entries parsed from $TABLE" >&2; exit 2; }
((${#ONLY[@]})) && NAMES=("${ONLY[@]}")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/verify_directives.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# render DIR KEY LINE: nginx.conf with LINE in context KEY.
render() {
    local dir=$1 at=$2 line=$3 k m
    local -A p=()
    for k in "${ALL_KEYS[@]}"; do p[$k]=""; done
    p[$at]=$line
    {
        for m in "${MODULES[@]}"; do printf 'load_module %s;\n' "$m"; done
        cat <<EOF
pid nginx.pid;
lock_file nginx.lock;
error_log err.log;
${p[main]}
events {
    ${p[events]}
}
http {
    access_log access.log;
    client_body_temp_path body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    ${p[http]}
    upstream u {
        ${p[upstream]}
        server 127.0.0.1:1;
    }
    server {
        listen 127.0.0.1:18180;
        ${p[server]}
        if (\$arg_x) {
            ${p[sif]}
        }
        location / {
            ${p[location]}
            if (\$arg_x) {
                ${p[lif]}
            }
        }
        location /lmt {
            limit_except GET {
                ${p[lmt]}
            }
        }
    }
}
EOF
        if ((HAVE_STREAM)); then
            cat <<EOF
stream {
    ${p[stream]}
    upstream su {
        ${p[stream_upstream]}
        server 127.0.0.1:1;
    }
    server {
        listen 127.0.0.1:18181;
        ${p[stream_server]}
        proxy_pass su;
    }
}
EOF
        fi
        if ((HAVE_MAIL)); then
            cat <<EOF
mail {
    ${p[mail]}
    server {
        listen 127.0.0.1:18182;
        protocol smtp;
        smtp_auth none;
        auth_http 127.0.0.1:1;
        ${p[mail_server]}
    }
}
EOF
        fi
    } >"$dir/nginx.conf"
}

# run_nginx DIR KEY LINE: prints what `nginx -t` said about that configuration.
run_nginx() {
    local dir=$1
    rm -rf "$dir"
    mkdir -p "$dir"
    render "$dir" "$2" "$3"
    "$NGINX" -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/err.log" 2>&1 || true
    cat "$dir/err.log" 2>/dev/null || true
}

# check_one NAME: one TSV line (see the header) for NAME.
check_one() {
    local name=$1 dir="$TMP/w$BASHPID" key out allowed=() unknown=0 sample
    sample=${SAMPLE[$name]:-1}
    for key in "${KEYS[@]}"; do
        out=$(run_nginx "$dir" "$key" "$name $sample;")
        if [[ $out == *"unknown directive \"$name\""* ]]; then
            unknown=1
            break
        fi
        [[ $out == *"\"$name\" directive is not allowed here"* ]] || allowed+=("$key")
    done
    if ((unknown)); then
        printf '%s\tunknown\n' "$name"
        return
    fi
    local names=() k
    for k in "${allowed[@]}"; do names+=("${NAME_OF_KEY[$k]}"); done
    local ctxs
    ctxs=$(IFS=,; echo "${names[*]}")
    if ((!WANT_ARGS)); then
        printf '%s\t%s\n' "$name" "$ctxs"
        return
    fi
    # Block or not, and accepted argument counts, in every allowed context (the table's
    # entry is the union over the modules that share the name).
    local blocks=() counts=() n argv term i
    for key in "${allowed[@]}"; do
        out=$(run_nginx "$dir" "$key" "$name $sample;")
        if [[ $out == *"directive \"$name\" has no opening \"{\""* ]]; then
            blocks+=(yes)
            term=" {}"
        else
            blocks+=(no)
            term=";"
        fi
        for n in 0 1 2 3 4 5 6 7 8; do
            argv=""
            for ((i = 0; i < n; i++)); do argv+=" $sample"; done
            out=$(run_nginx "$dir" "$key" "$name$argv$term")
            [[ $out == *"invalid number of arguments in \"$name\" directive"* ]] || counts+=("$n")
        done
    done
    local block
    block=$(printf '%s\n' "${blocks[@]}" | sort -u | paste -sd, -)
    [[ $block == no,yes ]] && block=mixed
    printf '%s\t%s\t%s\t%s\n' "$name" "$ctxs" "$block" \
        "$(printf '%s\n' "${counts[@]}" | sort -un | paste -sd, -)"
}

# The scaffolding alone must pass, or every answer would be about it.
base=$(run_nginx "$TMP/base" main "")
if ! "$NGINX" -t -q -p "$TMP/base/" -c "$TMP/base/nginx.conf" -e "$TMP/base/err.log" 2>/dev/null; then
    echo "the scratch configuration itself fails nginx -t:" >&2
    echo "$base" >&2
    exit 2
fi

export -f render run_nginx check_one
export TMP NGINX WANT_ARGS HAVE_STREAM HAVE_MAIL
# Arrays do not cross `export`; hand them over as declarations.
decls=$(declare -p MODULES KEYS ALL_KEYS NAME_OF_KEY SAMPLE)
export decls
# shellcheck disable=SC2016 # $decls and $1 are the child shell's
results=$(printf '%s\n' "${NAMES[@]}" |
    xargs -P "$JOBS" -I{} bash -c 'eval "$decls"; check_one "$1"' _ {} | LC_ALL=C sort)
printf '%s\n' "$results"

# Compare with the table.
accepted_counts() { # ARGS-EXPR -> comma list of n in 0..8 that args_ok() accepts
    local -A has=()
    local t n out=()
    for t in ${1//|/ }; do
        case $t in
            TAKE1234) has[TAKE1]=1 has[TAKE2]=1 has[TAKE3]=1 has[TAKE4]=1 ;;
            TAKE123) has[TAKE1]=1 has[TAKE2]=1 has[TAKE3]=1 ;;
            TAKE12) has[TAKE1]=1 has[TAKE2]=1 ;;
            TAKE13) has[TAKE1]=1 has[TAKE3]=1 ;;
            TAKE23) has[TAKE2]=1 has[TAKE3]=1 ;;
            *) has[$t]=1 ;;
        esac
    done
    for n in 0 1 2 3 4 5 6 7 8; do
        if [[ -n ${has[ANY]:-} ]] || { [[ -n ${has[FLAG]:-} ]] && ((n == 1)); } ||
            { [[ -n ${has[ONE_MORE]:-} ]] && ((n >= 1)); } ||
            { [[ -n ${has[TWO_MORE]:-} ]] && ((n >= 2)); } ||
            { ((n == 0)) && [[ -n ${has[NOARGS]:-} ]]; } ||
            { ((n > 0)) && [[ -n ${has[TAKE$n]:-} ]]; }; then
            out+=("$n")
        fi
    done
    (IFS=,; echo "${out[*]}")
}

declare -A PROBED=()
for k in "${KEYS[@]}"; do PROBED[$k]=1; done
checked=0 unknown=0 ctx_ok=0 ctx_bad=0 args_ok=0 args_bad=0 args_part=0 block_ok=0 block_bad=0
while IFS=$'\t' read -r name ctxs block counts; do
    [[ -n $name ]] || continue
    checked=$((checked + 1))
    if [[ -z ${T_CTX[$name]+x} ]]; then
        echo "$name: not in the table" >&2
        ctx_bad=$((ctx_bad + 1))
        continue
    fi
    if [[ $ctxs == unknown ]]; then
        unknown=$((unknown + 1))
        continue
    fi
    want=() partial=0
    for k in ${T_CTX[$name]}; do
        if [[ -n ${PROBED[$k]:-} ]]; then want+=("${NAME_OF_KEY[$k]}"); else partial=1; fi
    done
    want_s=$(IFS=,; echo "${want[*]}")
    if [[ $want_s == "$ctxs" ]]; then
        ctx_ok=$((ctx_ok + 1))
    else
        echo "$name: nginx allows it in [$ctxs], the table says [$want_s]" >&2
        ctx_bad=$((ctx_bad + 1))
    fi
    ((WANT_ARGS)) || continue
    want_n=$(accepted_counts "${T_ARGS[$name]}")
    if [[ $want_n == "$counts" ]]; then
        args_ok=$((args_ok + 1))
    elif ((partial)) && [[ -z $(comm -23 <(tr , '\n' <<<"$counts" | sort) \
        <(tr , '\n' <<<"$want_n" | sort)) ]]; then
        # Some of its contexts (stream, mail) were not probed: only a subset is expected.
        args_part=$((args_part + 1))
    else
        echo "$name: nginx takes [$counts] arguments here, the table says [$want_n]" >&2
        args_bad=$((args_bad + 1))
    fi
    # `server` is a block in http/stream/mail and not in upstream; the table says false.
    want_b=${T_BLOCK[$name]}
    [[ $name == server ]] && want_b=mixed
    ((partial)) && [[ $name == server && $block == yes ]] && want_b=yes
    if [[ $block == "$want_b" ]]; then
        block_ok=$((block_ok + 1))
    else
        echo "$name: nginx says block=$block, the table says $want_b" >&2
        block_bad=$((block_bad + 1))
    fi
done <<<"$results"

known=$((checked - unknown))
probed=$(for k in "${KEYS[@]}"; do printf '%s, ' "${NAME_OF_KEY[$k]}"; done)
{
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')${MODULES:+ + ${MODULES[*]##*/}}"
    echo "contexts probed: ${probed%, }"
    echo "checked $checked directives: $known known to this nginx, $unknown unknown to it (module not built or loaded)"
    echo "contexts: $ctx_ok agree, $ctx_bad disagree"
    if ((WANT_ARGS)); then
        echo "arguments: $args_ok agree, $args_part agree where probed (stream/mail contexts not probed), $args_bad disagree"
        echo "block: $block_ok agree, $block_bad disagree"
    fi
} >&2
((ctx_bad + args_bad + block_bad == 0))
