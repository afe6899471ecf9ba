#!/bin/bash
# Test stand-in entrypoint: hooks, optional syslog-ng swap, legacy TLS section, then the command.
for hook in /hooks/*; do
  [ -x "${hook}" ] || continue
  echo "Running hook ${hook}"
  "${hook}"
done

if [ -n "${REDIS_SLAVEOF_IP}" ]; then
  cp /etc/syslog-ng/syslog-ng-redis_slave.conf /etc/syslog-ng/syslog-ng.conf
fi

if grep -qE '!SSLv2|!SSLv3|>=TLSv1(\.[01])?$' /opt/postfix/conf/main.cf /opt/postfix/conf/extra.cf 2>/dev/null; then
  sed -i '/\[openssl_init\]/a ssl_conf = ssl_configuration' /etc/ssl/openssl.cnf
  printf '%s\n' '[ssl_configuration]' 'system_default = tls_system_default' \
    '[tls_system_default]' 'MinProtocol = TLSv1' 'CipherString = DEFAULT@SECLEVEL=0' >> /etc/ssl/openssl.cnf
fi

exec "$@"
