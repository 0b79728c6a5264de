#!/usr/bin/env node
// Makes sure the PostgreSQL and MariaDB servers the suite talks to are up, starting them when
// this machine has them installed and they are down. Exits non-zero, with one line saying what
// to do, when one stays unreachable: the suite never skips a database.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';

const servers = [
  {
    name: 'PostgreSQL',
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    start: () =>
      existsSync('/etc/postgresql') &&
      `pg_ctlcluster --skip-systemctl-redirect ${readdirSync('/etc/postgresql')[0]} main start`,
  },
  {
    name: 'MariaDB',
    host: process.env.MYSQL_HOST ?? '127.0.0.1',
    port: Number(process.env.MYSQL_PORT ?? 3306),
    start: () =>
      existsSync('/usr/sbin/mariadbd') &&
      'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  },
];

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let failed = false;
for (const server of servers) {
  if (await reachable(server.host, server.port)) continue;
  const command = server.start();
  if (command) {
    try {
      execSync(command, { stdio: 'ignore' });
    } catch {
      // reported below if it is still down
    }
    for (let i = 0; i < 60 && !(await reachable(server.host, server.port)); i++) {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!(await reachable(server.host, server.port))) {
    console.error(
      `${server.name} is not reachable on ${server.host}:${server.port}; start it (see README "Running the tests").`,
    );
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
