# BASH_ENV for mailcow's acme-mailcow container (docker/docker-compose.override.yml mounts it
# read-only and names it): bash reads it before every script the container runs. It acts for
# two of them and is silent for the rest:
#   /srv/acme.sh                    one line in acme's log: what happens to Postfix after a renewal
#   /srv/reload-configurations.sh   run instead as a copy in which restarting postfix-mailcow is
#                                   a graceful `postfix reload` (mailcow's own reload_postfix)
#                                   while postfix-mailcow runs our image with its watcher, which
#                                   applies the renewed certificates; a restart otherwise
# Only for a reload-configurations.sh this release knows (by SHA-256); any other is left as it
# is. MPI_WATCH=n: nothing changes. Nginx and Dovecot get what acme gives them.

# reload-configurations.sh of mailcow-dockerized 06424670f (ghcr.io/mailcow/acme:1.98).
mpi_known_reload_scripts='0fce9c045b941052b5cacac2022acbf668651f3c376269f3f8606b88f37f652b'
# MPI_ACME_SRV: where acme's scripts are (its image: /srv); test/unit/acme-bash-env.test.ts sets it.
mpi_reload_script=${MPI_ACME_SRV:-/srv}/reload-configurations.sh

mpi_reload_known() {
  mpi_sum=$(sha256sum "$mpi_reload_script" 2>/dev/null | cut -d ' ' -f 1)
  case " $mpi_known_reload_scripts " in *" ${mpi_sum:-none} "*) return 0 ;; *) return 1 ;; esac
}

case "$0" in
  "${MPI_ACME_SRV:-/srv}/acme.sh")
    if [ "${MPI_WATCH:-y}" != y ]; then
      echo "mailcow-postfix-init: MPI_WATCH=${MPI_WATCH}: after a renewal acme restarts postfix-mailcow, as stock" >&2
    elif mpi_reload_known; then
      echo "mailcow-postfix-init: after a renewal acme reloads Postfix instead of restarting postfix-mailcow while it runs mailcow-postfix-init's watcher" >&2
    else
      echo "mailcow-postfix-init: $mpi_reload_script (sha256 ${mpi_sum:-unreadable}) is not one this release knows: left as it is, acme restarts postfix-mailcow after a renewal" >&2
    fi
    ;;
  "$mpi_reload_script")
    if [ "${MPI_WATCH:-y}" = y ] && mpi_reload_known; then
      mpi_copy=$(mktemp "${TMPDIR:-/tmp}/mpi-reload-configurations.XXXXXX") || return 0
      {
        head -n 1 "$mpi_reload_script"
        cat <<'MPI_FUNCTION'
# mailcow-postfix-init: postfix-mailcow running our image with its watcher (label and
# MPI_WATCH=y, read through dockerapi) gets a graceful reload; anything else the restart.
mpi_postfix_after_renewal() {
  MPI_POSTFIX_JSON=$(curl --silent --insecure "https://dockerapi.${COMPOSE_PROJECT_NAME}_mailcow-network/containers/${POSTFIX}/json")
  if [[ $(jq -r '.Config.Labels["org.opencontainers.image.title"] // ""' <<<"${MPI_POSTFIX_JSON}") == mailcow-postfix-init ]] \
    && jq -e '.Config.Env | index("MPI_WATCH=y")' <<<"${MPI_POSTFIX_JSON}" >/dev/null; then
    echo "Postfix runs mailcow-postfix-init's watcher: reloading, not restarting"
    reload_postfix
    # reload_postfix's last test is false on success; the script's status stays the restart's.
    return 0
  else
    restart_container ${POSTFIX}
  fi
}
MPI_FUNCTION
        tail -n +2 "$mpi_reload_script" | sed 's/^\( *\)restart_container \${POSTFIX}$/\1mpi_postfix_after_renewal/'
      } > "$mpi_copy"
      trap 'rm -f "$mpi_copy"' EXIT
      unset BASH_ENV
      . "$mpi_copy"
      exit
    fi
    ;;
esac
