# Fish completion for meilichat.
#
# Install it: meilichat completions fish > ~/.config/fish/completions/meilichat.fish
#
# This is the output of `meilichat completions fish`: regenerate it rather than edit it.

function __meilichat_complete
    set -l line (commandline -cp)
    env _MEILICHAT_COMPLETE=complete_fish _MEILICHAT_COMPLETE_LINE="$line" meilichat 2>/dev/null |
        while read -l -d \t kind prefix value description
            switch $kind
                case plain
                    if test -n "$description"
                        printf '%s%s\t%s\n' "$prefix" "$value" "$description"
                    else
                        printf '%s%s\n' "$prefix" "$value"
                    end
                case file
                    __fish_complete_path "$value" | string replace -r -- '^' "$prefix"
                case dir
                    __fish_complete_directories "$value" | string replace -r -- '^' "$prefix"
            end
        end
end

complete --command meilichat --no-files --arguments '(__meilichat_complete)'
