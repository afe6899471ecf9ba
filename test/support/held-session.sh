# An SMTP session held open (run with bash -c inside the container's namespace; SNI name as $1,
# port as $2, default 25):
# STARTTLS and EHLO, then it waits up to 90 s for /tmp/session-go and sends NOOP on the same
# connection. Prints "EHLO <last reply line>" and "NOOP <reply line>".
coproc S { openssl s_client -starttls smtp -connect "127.0.0.1:${2:-25}" -servername "$1" -quiet 2>/dev/null; }
reply() {
  local line
  while IFS= read -r -t 15 line <&"${S[0]}"; do
    line="${line%$'\r'}"
    case "$line" in [0-9][0-9][0-9]\ *) echo "$line"; return ;; esac
  done
  echo "no reply"
}
printf 'EHLO held.test\r\n' >&"${S[1]}"
echo "EHLO $(reply)"
touch /tmp/session-open
for _ in $(seq 1 900); do [ -e /tmp/session-go ] && break; sleep 0.1; done
printf 'NOOP\r\n' >&"${S[1]}"
echo "NOOP $(reply)"
printf 'QUIT\r\n' >&"${S[1]}"
