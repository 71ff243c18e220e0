// Configuration: read from the environment once, validated with zod, frozen.
// Each module receives only its slice (see `Config` sections below).
import { AppError, ErrorCode } from '../errors/index.js';
import { SETTINGS, type SettingName, type Setting } from './settings.js';

export { SETTINGS, type SettingName, type Setting } from './settings.js';

type Parsed<N extends SettingName> = (typeof SETTINGS)[N] extends { schema: infer S }
  ? S extends { _output: infer O }
    ? O
    : never
  : never;

type HasDefault<N extends SettingName> = (typeof SETTINGS)[N] extends { default: string }
  ? true
  : false;

export type Config = Readonly<{
  [N in SettingName]: HasDefault<N> extends true ? Parsed<N> : Parsed<N> | undefined;
}>;

/** Every env var the service reads. */
export const CONFIG_ENV_VARS: readonly string[] = Object.values(SETTINGS).map(
  (s: Setting) => s.env,
);

/**
 * Reads, validates and freezes the configuration. Throws one AppError(Config) naming every
 * invalid variable, so an operator fixes them all in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const raw = env[setting.env] ?? setting.default;
    if (raw === undefined || raw === '') {
      out[name] = undefined;
      continue;
    }
    const result = setting.schema.safeParse(raw);
    if (result.success) out[name] = result.data;
    else problems.push(`${setting.env}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (out.mode === 'production') {
    if (out.masterKey === undefined && out.masterKeyFile === undefined)
      problems.push('SEALPOST_MASTER_KEY or SEALPOST_MASTER_KEY_FILE is required in production');
    if (env[SETTINGS.vaultPassword.env] === undefined)
      problems.push('SEALPOST_VAULT_PASSWORD is required in production');
  }
  // /metrics and the dashboard beyond loopback (compose: the container network) need the token (issue 14).
  if (out.mode === 'production' && out.httpPort !== 0 && out.opsToken === undefined && !isLoopback(String(out.httpHost)))
    problems.push(`SEALPOST_OPS_TOKEN is required in production when the operations endpoint listens on ${String(out.httpHost)}`);
  // A target's burst of claims must leave a full pool above its low-water mark (issue 14).
  const [burst, pool, lowWater] = [out.claimTargetBurst, out.maxOneTimePrekeys, out.prekeyLowWater];
  if (typeof burst === 'number' && typeof pool === 'number' && typeof lowWater === 'number' && burst >= pool - lowWater)
    problems.push(`SEALPOST_CLAIM_TARGET_BURST: ${burst} must be below SEALPOST_MAX_OPKS - SEALPOST_OPK_LOW_WATER (${pool - lowWater}), or a burst drains a full pool`);
  if (problems.length > 0)
    throw new AppError(ErrorCode.Config, `invalid configuration:\n  ${problems.join('\n  ')}`);
  return Object.freeze(out) as Config;
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** The vault's bare JID from the config. */
export function vaultBareJid(config: Pick<Config, 'vaultUser' | 'xmppDomain'>): string {
  return `${config.vaultUser}@${config.xmppDomain}`;
}

/**
 * SEALPOST_CRYPTO alone, for the SDK and the CLI (their `crypto` option's default); the service
 * reads it with everything else in `loadConfig`. Same setting, same schema, same default.
 */
export function cryptoChoiceFromEnv(env: NodeJS.ProcessEnv = process.env): Config['crypto'] {
  const setting = SETTINGS.crypto;
  const raw = env[setting.env] ?? '';
  const result = setting.schema.safeParse(raw === '' ? setting.default : raw);
  if (!result.success) throw new AppError(ErrorCode.Config, `${setting.env}: expected auto, native or wasm, got ${raw}`);
  return result.data;
}
export {
  configSlices,
  type ConfigSlices,
  type DeliverySlice,
  type DirectorySlice,
  type IngestSlice,
  type MamSlice,
  type OpsSlice,
  type PresenceSlice,
  type RedisSlice,
  type RetentionSlice,
  type ShardsSlice,
  type StoreQuotaSlice,
  type StoresSlice,
  type UploadSlice,
  type XmppSlice,
} from './slices.js';
