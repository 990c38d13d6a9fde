# Bash completion for meilichat (bash 4.4 or later).
#
# Try it in this shell:
#     source <(meilichat completions bash)
# Install it for good (with the bash-completion package; or `source` the file from ~/.bashrc):
#     meilichat completions bash > ~/.local/share/bash-completion/completions/meilichat
#
# This is the output of `meilichat completions bash`: regenerate it rather than edit it.

_meilichat_completion() {
    local line kind
    COMPREPLY=()
    while IFS= read -r line; do
        kind=${line%%,*}
        case $kind in
            plain) COMPREPLY+=("${line#*,}") ;;
            file) compopt -o default 2>/dev/null ;;
            dir) compopt -o dirnames 2>/dev/null ;;
        esac
    done < <(env _MEILICHAT_COMPLETE=complete_bash \
        _MEILICHAT_COMPLETE_LINE="${COMP_LINE:0:COMP_POINT}" \
        _MEILICHAT_COMPLETE_WORDBREAKS="$COMP_WORDBREAKS" meilichat 2>/dev/null)
    return 0
}

complete -o nosort -F _meilichat_completion meilichat 2>/dev/null ||
    complete -F _meilichat_completion meilichat
