// `npm run fuzz` (issue 9, "Fuzzing"): 100,000 random and mutated submission stanzas, key IQs and
// archive (MAM) queries straight into the vault's handlers, over real archive files, a real key
// directory and real Redis (REDIS_URL, or a private redis-server). The checks are those of
// test/integration/fuzz.test.ts (see test/fuzz/world.ts); heap use is measured after a GC every
// chunk and must stay flat once warm. Options: --runs N, --seed S, --chunk N. Exit code 1 on any
// failure, with fast-check's counterexample and the seed to replay it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { findRedis } from '../src/localdev/index.js';
import { fromArb, stanzaArb } from '../test/fuzz/arbitraries.js';
import { createFuzzWorld } from '../test/fuzz/world.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`--${name}: expected a non-negative integer`);
  return v;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

async function main(): Promise<number> {
  const runs = option('runs', 100_000);
  const chunk = Math.max(1, option('chunk', 10_000));
  const seed = option('seed', Math.floor(Math.random() * 2 ** 31));
  const redis = await findRedis();
  const world = await createFuzzWorld({ redisUrl: redis.url });
  const rejections: unknown[] = [];
  process.on('unhandledRejection', (reason) => void rejections.push(reason));
  const arb = stanzaArb({ seeds: [...world.seeds.messages, ...world.seeds.iqs], tokens: world.seeds.tokens, from: fromArb(world.seeds.attacker) });
  const started = Date.now();
  const heap: number[] = [heapMb()];
  let failed = false;
  try {
    for (let done = 0, i = 0; done < runs; done += chunk, i++) {
      const n = Math.min(chunk, runs - done);
      // One fast-check run per chunk, each with its own seed derived from the run's seed.
      await fc.assert(fc.asyncProperty(arb, async (stanza) => void (await world.run(stanza))), { numRuns: n, seed: seed + i, endOnFailure: true });
      heap.push(heapMb());
      process.stdout.write(`${done + n} cases, ${Math.round(((done + n) / (Date.now() - started)) * 1000)}/s, heap ${(heap.at(-1) ?? 0).toFixed(1)} MiB\n`);
    }
    await new Promise((r) => setTimeout(r, 100));
    world.check();
    if (rejections.length > 0) throw new Error(`${rejections.length} unhandled rejections, first: ${String(rejections[0])}`);
    // Warm-up (caches, JIT, statement caches) is over after the first chunk; after it, flat.
    const warm = heap[1] ?? heap[0] ?? 0;
    const growth = Math.max(...heap.slice(1)) - warm;
    if (heap.length > 2 && growth > 32) throw new Error(`heap grew by ${growth.toFixed(1)} MiB after warm-up: ${heap.map((h) => h.toFixed(0)).join(' → ')} MiB`);
    const s = world.stats;
    process.stdout.write(
      `fuzz: ${s.cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${seed}; submitted items accepted ${s.submissions.accepted}, refused ${s.submissions.refused}; prekeys claimed ${s.claimed}; heap ${heap.map((h) => h.toFixed(0)).join(' → ')} MiB\n` +
        `IQ answers: ${JSON.stringify(s.iq)}\n`,
    );
  } catch (err) {
    failed = true;
    const cause = err instanceof Error && err.cause instanceof Error ? `\ncause: ${err.cause.stack ?? err.cause.message}` : '';
    process.stderr.write(`fuzz FAILED (seed ${seed}; --seed ${seed} replays it):\n${err instanceof Error ? err.message : String(err)}${cause}\n`);
  } finally {
    await world.close();
    await redis.server?.stop();
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
