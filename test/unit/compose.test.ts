// Static checks of docker-compose.yml (no Docker engine here): the sealpost service sets only
// variables the config accepts and they validate, the services it needs are there and reachable
// under the names its URLs use, Redis is durable and never evicts, Prosody's config exists.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_ENV_VARS, loadConfig } from '../../src/config/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, unknown>;
  secrets?: (string | { source: string })[];
}
interface Compose {
  services: Record<string, Service>;
  secrets?: Record<string, { file?: string }>;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Compose;
const services = compose.services;

/** Compose interpolation, statically: defaults for ${X:-d}, a stand-in for required ${X:?msg}. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}/g, (_m, _name, dash, def, q) =>
    dash !== undefined ? String(def) : q !== undefined ? 'required-value-from-env' : '',
  );
}

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((line): [string, string] => {
        const i = line.indexOf('=');
        return i === -1 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      })
    : Object.entries(env).map(([k, v]): [string, string] => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}

function commandArgs(service: Service): string[] {
  const c = service.command ?? [];
  return Array.isArray(c) ? c.map(String) : c.split(/\s+/);
}

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

function bindMounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? []).flatMap((v) => {
    if (typeof v !== 'string') return v.type === 'bind' && v.source && v.target ? [{ source: v.source, target: v.target }] : [];
    const [source, target] = v.split(':');
    return source?.startsWith('.') && target ? [{ source, target }] : [];
  });
}

const app = services.sealpost;
const appEnv = app ? environment(app) : {};

describe('docker-compose.yml', () => {
  it('has the sealpost service, built from the Dockerfile in the repo', () => {
    expect(app).toBeDefined();
    const build = app?.build;
    const context = typeof build === 'string' ? build : (build?.context ?? '.');
    const dockerfile = typeof build === 'object' ? (build.dockerfile ?? 'Dockerfile') : 'Dockerfile';
    const path = join(root, context, dockerfile);
    expect(existsSync(path), path).toBe(true);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^FROM node:20-bookworm-slim/m);
    expect(text).toMatch(/^USER (?!root\b|0\b)\S+/m); // never runs as root
  });

  it('sets only environment variables the config accepts', () => {
    const unknown = Object.keys(appEnv).filter((name) => !CONFIG_ENV_VARS.includes(name));
    expect(unknown).toEqual([]);
  });

  it('sets values the config validates (production mode included)', () => {
    const config = loadConfig(appEnv);
    expect(config.mode).toBe('production');
  });

  it('has an XMPP server and Redis under the host names the service connects to, and waits for both', () => {
    const xmpp = new URL(appEnv.SEALPOST_XMPP_SERVICE ?? '');
    const redis = new URL(appEnv.REDIS_URL ?? '');
    expect(services[xmpp.hostname], `service ${xmpp.hostname}`).toBeDefined();
    expect(services[redis.hostname], `service ${redis.hostname}`).toBeDefined();
    const deps = app?.depends_on ?? [];
    const names = Array.isArray(deps) ? deps : Object.keys(deps);
    expect(names).toEqual(expect.arrayContaining([xmpp.hostname, redis.hostname]));
  });

  it('runs Redis with an append-only file, a documented fsync policy and no eviction', () => {
    const redisHost = new URL(appEnv.REDIS_URL ?? '').hostname;
    const args = commandArgs(services[redisHost] ?? {});
    expect(args[0]).toBe('redis-server');
    expect(argAfter(args, '--appendonly')).toBe('yes');
    expect(['always', 'everysec']).toContain(argAfter(args, '--appendfsync'));
    expect(argAfter(args, '--maxmemory-policy')).toBe('noeviction');
    expect(services[redisHost]?.volumes?.length ?? 0).toBeGreaterThan(0); // the AOF outlives the container
  });

  it('mounts a Prosody config from the repo that serves the port and domain the service uses', () => {
    const xmpp = new URL(appEnv.SEALPOST_XMPP_SERVICE ?? '');
    const mount = bindMounts(services[xmpp.hostname] ?? {}).find((m) => m.target === '/etc/prosody/prosody.cfg.lua');
    expect(mount).toBeDefined();
    const path = join(root, mount?.source ?? '');
    expect(existsSync(path), path).toBe(true);
    const lua = readFileSync(path, 'utf8');
    expect(lua).toMatch(new RegExp(`c2s_ports\\s*=\\s*\\{[^}]*\\b${xmpp.port || '5222'}\\b`));
    for (const module of ['roster', 'saslauth', 'disco', 'pep', 'ping', 'offline', 'mam', 'smacks'])
      expect(lua, `module ${module}`).toContain(`"${module}"`);
    expect(lua).toMatch(/VirtualHost\s*\(?\s*domain/);
    expect(lua).toContain('ENV_SEALPOST_XMPP_DOMAIN');
  });

  it('guards /metrics and the dashboard with a required token, and keeps the dashboard read-only', () => {
    const raw = (app?.environment ?? {}) as Record<string, string>;
    expect(raw.SEALPOST_OPS_TOKEN).toMatch(/^\$\{SEALPOST_OPS_TOKEN:\?[^}]+\}$/); // compose refuses to start without it
    const config = loadConfig(appEnv);
    expect(config.httpHost).toBe('0.0.0.0');
    expect(config.opsToken).toBeDefined();
    expect(config.dashboardWritable).toBe(false);
    const { SEALPOST_OPS_TOKEN: _token, ...withoutToken } = appEnv;
    expect(() => loadConfig(withoutToken)).toThrow(/SEALPOST_OPS_TOKEN is required/);
  });

  it('keeps the master key in a secret file outside git', () => {
    const file = compose.secrets?.sealpost_master_key?.file ?? '';
    expect(file).toMatch(/^\.\/deploy\/secrets\//);
    expect(readFileSync(join(root, 'deploy/secrets/.gitignore'), 'utf8')).toMatch(/^\*$/m);
    expect(appEnv.SEALPOST_MASTER_KEY).toBeUndefined();
    expect(appEnv.SEALPOST_MASTER_KEY_FILE).toBe('/run/secrets/sealpost_master_key');
  });
});
