import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV_VARS, configSlices, cryptoChoiceFromEnv, loadConfig, SETTINGS, vaultBareJid } from '../../../src/config/index.js';
import { configTableMarkdown } from '../../../src/config/docs.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';

describe('config', () => {
  it('gives a usable local configuration with no environment at all', () => {
    const config = loadConfig({});
    expect(config.mode).toBe('development');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.archiveMaxOpen).toBe(64);
    expect(config.maxDevices).toBe(32);
    expect(config.allowedDomains).toEqual(['localhost']);
    expect(config.strict).toBe(false);
    expect(config.masterKey).toBeUndefined();
    expect(vaultBareJid(config)).toBe('vault@localhost');
  });

  it('is frozen after validation', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { mode: string }).mode = 'production';
    }).toThrow(TypeError);
  });

  it('parses numbers, booleans and lists from their env spelling', () => {
    const config = loadConfig({
      SEALPOST_ARCHIVE_MAX_OPEN: '128',
      SEALPOST_STRICT: 'yes',
      SEALPOST_ALLOWED_DOMAINS: 'a.example, b.example,,',
    });
    expect(config.archiveMaxOpen).toBe(128);
    expect(config.strict).toBe(true);
    expect(config.allowedDomains).toEqual(['a.example', 'b.example']);
  });

  it('names every invalid variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig({ SEALPOST_ARCHIVE_CIPHER: 'aes256cbc', SEALPOST_MAX_DEVICES: '0', REDIS_URL: 'http://x' });
    } catch (err) {
      caught = err;
    }
    expect(AppError.is(caught, ErrorCode.Config)).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('SEALPOST_ARCHIVE_CIPHER');
    expect(message).toContain('SEALPOST_MAX_DEVICES');
    expect(message).toContain('REDIS_URL');
  });

  it('reads SEALPOST_CRYPTO for the service (stores slice) and for the SDK and CLI alike', () => {
    expect(configSlices(loadConfig({})).stores.crypto).toBe('auto');
    expect(configSlices(loadConfig({ SEALPOST_CRYPTO: 'wasm' })).stores.crypto).toBe('wasm');
    expect([cryptoChoiceFromEnv({}), cryptoChoiceFromEnv({ SEALPOST_CRYPTO: '' }), cryptoChoiceFromEnv({ SEALPOST_CRYPTO: 'native' })]).toEqual(['auto', 'auto', 'native']);
    expect(() => loadConfig({ SEALPOST_CRYPTO: 'openssl' })).toThrow(/SEALPOST_CRYPTO/);
    expect(() => cryptoChoiceFromEnv({ SEALPOST_CRYPTO: 'openssl' })).toThrow(/SEALPOST_CRYPTO: expected auto, native or wasm, got openssl/);
  });

  it('refuses CBC and RC4 archive ciphers', () => {
    for (const cipher of ['aes128cbc', 'aes256cbc', 'rc4', 'sqlcipher'])
      expect(() => loadConfig({ SEALPOST_ARCHIVE_CIPHER: cipher })).toThrow(/SEALPOST_ARCHIVE_CIPHER/);
    expect(loadConfig({ SEALPOST_ARCHIVE_CIPHER: 'aegis' }).archiveCipher).toBe('aegis');
  });

  it('requires a master key and a vault password in production', () => {
    expect(() => loadConfig({ SEALPOST_MODE: 'production' })).toThrow(/MASTER_KEY[\s\S]*VAULT_PASSWORD/);
    const config = loadConfig({
      SEALPOST_MODE: 'production',
      SEALPOST_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      SEALPOST_VAULT_PASSWORD: 'a-real-secret',
    });
    expect(config.mode).toBe('production');
  });

  it('requires the ops token in production when the operations endpoint listens beyond loopback', () => {
    const prod = { SEALPOST_MODE: 'production', SEALPOST_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'), SEALPOST_VAULT_PASSWORD: 'a-real-secret' };
    expect(() => loadConfig({ ...prod, SEALPOST_HTTP_HOST: '0.0.0.0' })).toThrow(/SEALPOST_OPS_TOKEN is required in production/);
    expect(loadConfig({ ...prod, SEALPOST_HTTP_HOST: '0.0.0.0', SEALPOST_OPS_TOKEN: 'x'.repeat(24) }).opsToken).toBe('x'.repeat(24));
    expect(loadConfig({ ...prod, SEALPOST_HTTP_HOST: '0.0.0.0', SEALPOST_HTTP_PORT: '0' }).httpPort).toBe(0);
    expect(loadConfig({ ...prod, SEALPOST_HTTP_HOST: '127.0.0.1' }).opsToken).toBeUndefined();
    expect(loadConfig({ SEALPOST_HTTP_HOST: '0.0.0.0' }).mode).toBe('development');
    expect(loadConfig({}).dashboardWritable).toBe(false);
  });

  it('lists one env var per setting, all distinct', () => {
    expect(CONFIG_ENV_VARS).toHaveLength(Object.keys(SETTINGS).length);
    expect(new Set(CONFIG_ENV_VARS).size).toBe(CONFIG_ENV_VARS.length);
  });

  it('is documented in the README exactly as the settings table says', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(configTableMarkdown());
  });
});
