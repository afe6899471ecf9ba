#!/bin/bash
# Stand-in for mailcow's update.sh (written for the tests), the part that matters here: the
# pre-update hook, pull every image (a failed pull does not stop it), stop everything, start
# again, then the post-update hook, both run from the mailcow directory when present.
cd "$(dirname "$0")" || exit 1
[ -f pre_update_hook.sh ] && bash pre_update_hook.sh
docker compose pull
docker compose down
docker compose up -d --remove-orphans
[ -f post_update_hook.sh ] && bash post_update_hook.sh
exit 0
