#!/bin/bash
# Start MariaDB on the shared socket only, with DBNAME and DBUSER/DBPASS created at startup.
set -euo pipefail
: "${DBNAME:?}" "${DBUSER:?}" "${DBPASS:?}"
mkdir -p /var/run/mysqld /var/lib/mysql
chown mysql:mysql /var/run/mysqld /var/lib/mysql
chmod 755 /var/run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
    --auth-root-authentication-method=socket > /dev/null
fi
umask 077
cat > /run/init.sql <<SQL
CREATE DATABASE IF NOT EXISTS \`${DBNAME}\`;
CREATE USER IF NOT EXISTS '${DBUSER}'@'localhost' IDENTIFIED BY '${DBPASS}';
GRANT ALL ON \`${DBNAME}\`.* TO '${DBUSER}'@'localhost';
SQL
chown mysql /run/init.sql
exec mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking \
  --socket=/var/run/mysqld/mysqld.sock --init-file=/run/init.sql
