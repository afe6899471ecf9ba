#!/bin/bash
# Stand-in for mailcow's update.sh (written for the tests), the part that matters here: pull
# every image (a failed pull does not stop it), stop everything, start again.
docker compose pull
docker compose down
docker compose up -d --remove-orphans
