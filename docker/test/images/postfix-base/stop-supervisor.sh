#!/bin/bash
# Test stand-in event listener: on the first state event of any program, ask supervisord (our
# parent) to shut down, so that a dead program ends the container instead of leaving it half alive.
echo READY
while read -r header; do
  echo "event: ${header}" >&2
  kill -QUIT "${PPID}"
done
