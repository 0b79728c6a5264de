#!/usr/bin/env node
// Starts the PostgreSQL and MariaDB servers of this machine when they are installed, down, and
// looked for at their default addresses (no PGHOST/PGPORT, MYSQL_HOST/MYSQL_PORT pointing
// elsewhere). `npm test` runs it and goes on either way: the suite starts an embedded PostgreSQL
// and leaves out MariaDB's specs, with a summary, when they stay down (test/support/services.ts).
// With --required (the benchmarks) it exits non-zero, with one line saying what to do, when one
// stays unreachable.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';

const servers = [
  {
    name: 'PostgreSQL',
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    start: () =>
      process.env.PGHOST === undefined &&
      process.env.PGPORT === undefined &&
      existsSync('/etc/postgresql') &&
      `pg_ctlcluster --skip-systemctl-redirect ${readdirSync('/etc/postgresql')[0]} main start`,
  },
  {
    name: 'MariaDB',
    host: process.env.MYSQL_HOST ?? '127.0.0.1',
    port: Number(process.env.MYSQL_PORT ?? 3306),
    start: () =>
      process.env.MYSQL_HOST === undefined &&
      process.env.MYSQL_PORT === undefined &&
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

const required = process.argv.includes('--required');
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
  if (!(await reachable(server.host, server.port)) && required) {
    console.error(
      `${server.name} is not reachable on ${server.host}:${server.port}; start it (see README "Running the tests").`,
    );
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
