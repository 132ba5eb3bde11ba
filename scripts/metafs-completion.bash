# Bash completion for metafs: commands, verbs, options, and names from the store (images,
# containers, leases, namespaces, content, snapshots). Load it with
#   source scripts/metafs-completion.bash
# (scripts/install links it where bash-completion finds it by itself).
_metafs() {
  local IFS=$'\n'
  # metafs parses the line itself: bash's words split image names at ':'
  COMPREPLY=($(metafs __complete "$COMP_POINT" "$COMP_LINE" 2>/dev/null))
}
complete -o default -F _metafs metafs
