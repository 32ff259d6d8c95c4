# bash completion for xdpvsadm (installed by make install): its options, the values some take
# (schedulers, kinds of health check, show's verbs) and, asked of the running daemon, the services
# after -t/-u and the real servers after -r. xdpvsadm itself answers: `xdpvsadm __complete WORDS`
# prints the completions of the last word, so that they come from its option table.
_xdpvsadm() {
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null; then
        # VIP:PORT and --opt=value are one word each.
        _get_comp_words_by_ref -n =: cur words cword
    else
        cur=${COMP_WORDS[COMP_CWORD]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    local IFS=$'\n'
    COMPREPLY=($("${words[0]}" __complete "${words[@]:1:cword-1}" "$cur" 2>/dev/null))
    if declare -F __ltrim_colon_completions >/dev/null; then
        __ltrim_colon_completions "$cur"
    fi
}
# Nothing to offer (a file after import-keepalived, say): bash's default completion.
complete -o default -F _xdpvsadm xdpvsadm
